"""Shared test setup: one torch thread (2-core machines run several workers)."""

import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("NAS_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".cache"))


@pytest.fixture(params=[0, 1, 2], ids=lambda s: f"seed{s}")
def seed(request) -> int:
    """A seed that sweeps: tests are deterministic but not tied to one seed."""
    return request.param
