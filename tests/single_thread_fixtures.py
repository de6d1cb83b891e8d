"""An opt-in fixture for test modules that run many torch ops on small tensors.

Import it into a test module (`from single_thread_fixtures import single_thread  # noqa: F401`) to run that
module with one intra-op thread: on small tensors extra threads only add overhead, which becomes severe (5-10x
wall time) when the CPU is shared with other test workers.
"""

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
