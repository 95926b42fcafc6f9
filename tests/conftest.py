import os

import pytest

# Tests never touch the network: make every Hugging Face / transformers lookup local-only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: CPU results depend on the thread count (reduction order), and golden
    figures must be the same on every machine (measured: the golden AVCA run and the modality margins moved
    with 2 threads). Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
