"""Selection past one machine. ``subsel.distributed.dask`` runs selectors on Dask collections.

Nothing here is imported by ``import subsel``; dask is needed only when the submodule is imported
(``pip install 'subsel[dask]'``).
"""
