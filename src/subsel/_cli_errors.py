"""How the ``subsel`` command line reports failures: one line on stderr, exit status 2.

Two sources: click / typer usage errors (a bad ``--budget abc``, a missing ``--out``), turned into
one line by :func:`one_line_exit`; and the library's own ``ValueError`` / ``TypeError`` in the one
format of :mod:`subsel._validation` (``The 'budget' parameter of Uniform must be ...``), whose
Python parameter names :func:`library_error` replaces by the command-line flags.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping

import typer

# The click that typer runs on: its own copy (typer >= 0.2x vendors it) or the click package.
_exc = sys.modules[typer.BadParameter.__module__]

__all__ = ["fail", "one_line_exit", "library_error", "one_line"]


def one_line(message: str) -> str:
    """``error: ...`` with every run of whitespace (newlines included) made one space."""
    return f"error: {' '.join(str(message).split())}"


def fail(message: str):
    """Print ``error: message`` as one line on stderr and exit with status 2."""
    typer.echo(one_line(message), err=True)
    raise typer.Exit(2)


_NO_ARGS = getattr(_exc, "NoArgsIsHelpError", ())  # click >= 8.2


def one_line_exit(main: Callable, **kwargs) -> int:
    """Run a click command's ``main`` without click's standalone handling; return the exit code.

    Usage errors print one line (``error: Missing option '--out'. See 'subsel select --help'.``)
    and give 2; ``--help`` and ``--version`` give 0.
    """
    try:
        rv = main(standalone_mode=False, **kwargs)
    except _NO_ARGS as exc:  # bare `subsel`: the help, as click prints it
        typer.echo(exc.ctx.get_help())
        return 0
    except _exc.ClickException as exc:
        message = exc.format_message().replace("Value error, ", "")
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, _exc.UsageError) and ctx is not None:
            message = f"{message.rstrip('.')}. See '{ctx.command_path} --help'."
        typer.echo(one_line(message), err=True)
        return 2
    except _exc.Abort:
        typer.echo(one_line("aborted (unexpected end of input)."), err=True)
        return 2
    return rv if isinstance(rv, int) else 0


_PARAM = re.compile(r"The '(\w+)' parameter of [\w.]+ must be")
_INPUT = re.compile(r"Input '(\w+)' of [\w.]+")


def library_error(exc: BaseException, flags: Mapping[str, str]) -> str:
    """The message of a library error with Python parameter names replaced by their flags.

    ``flags`` maps a parameter or input name (``budget``, ``n_clusters``, ``X``) to what the
    user typed (``--budget``, ``--clusters``, ``EMBEDDINGS``)::

        The 'budget' parameter of Uniform must be an int in [1, n] (n=50). Got 999 instead.
        --budget must be an int in [1, n] (n=50). Got 999 instead.
    """
    msg = str(exc).replace("must be None when", "must be left out when")
    msg = _PARAM.sub(lambda m: f"{flags.get(m.group(1), repr(m.group(1)))} must be", msg)
    msg = _INPUT.sub(lambda m: flags.get(m.group(1), m.group(0)), msg)
    for name, flag in flags.items():
        msg = re.sub(rf"'{re.escape(name)}'|(?<![\w-]){re.escape(name)}(?==)", flag, msg)
    return msg
