"""Network tests start from a fixed torch seed (one thread comes from tests/conftest.py)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
