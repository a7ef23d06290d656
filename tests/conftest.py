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
