import os

import pytest

# Tests never touch the network: make every Hugging Face / transformers lookup local-only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: CPU results depend on the thread count (reduction order), and margins
    checked against fixed figures must not move with the machine (measured: the modality margins moved with
    2 threads). Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`. The golden figures
    (test_faithful_golden.py) pin more than this, in a process of their own."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
