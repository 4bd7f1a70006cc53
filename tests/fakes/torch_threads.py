"""Run a torch-heavy test module on one intra-op thread (``from fakes.torch_threads import ...``)."""

import pytest


def one_thread_fixture():
    """An autouse, module-scoped fixture that sets ``torch.set_num_threads(1)`` and restores the old count.

    The CI box is shared: one intra-op thread is faster than two contended ones. Bind the result to a module
    global (``_one_thread = one_thread_fixture()``) so pytest picks it up for that module.
    """

    @pytest.fixture(autouse=True, scope="module")
    def _one_thread():
        import torch

        n = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(n)

    return _one_thread
