import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: run with SLOW=1 (make test SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_torch():
    """Tests that draw unseeded tensors still run the same way every time."""
    import torch

    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny problems (two spin-waiting OpenMP threads cost up
    to 100x on a busy 2-core machine); the setting is restored afterwards. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
