"""GPU tests: the CUDA code paths (`make test-gpu`). They are not part of `make test`, and on a
machine without CUDA they stop with an error instead of passing or skipping."""

import pytest
import torch


def pytest_collection_finish(session):
    if session.items and not torch.cuda.is_available():
        pytest.exit("test/gpu needs a CUDA GPU; none is visible to torch", returncode=3)
