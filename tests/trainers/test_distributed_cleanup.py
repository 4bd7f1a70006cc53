"""How a distributed run leaves its process group: together after a normal end, at once after a failure."""

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers import distributed as D  # noqa: E402
from fer_edge.trainers import train as train_module  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402

pytestmark = pytest.mark.torch


class _RecordingGroup:
    """Stands in for ``torch.distributed`` of rank 0 in a two-process job; records what the run asks of it."""

    def __init__(self):
        self.calls = []

    def is_initialized(self):
        return True

    def barrier(self):
        self.calls.append("barrier")

    def destroy_process_group(self):
        self.calls.append("destroy")


@pytest.fixture
def group(monkeypatch):
    fake = _RecordingGroup()
    monkeypatch.setattr(D, "dist", fake)
    monkeypatch.setattr(D, "init_distributed", lambda device: D.DistInfo(rank=0, world_size=2, backend="gloo"))
    return fake


def test_a_run_that_ends_normally_waits_for_its_peers_before_leaving(group, monkeypatch):
    monkeypatch.setattr(train_module, "_train", lambda *a: {"best": 1.0})
    assert train_module.train(TrainConfig(device="cpu")) == {"best": 1.0}
    assert group.calls == ["barrier", "destroy"]


def test_a_failed_rank_leaves_at_once_so_torchrun_sees_the_failure(group, monkeypatch):
    def fail(*a):
        raise RuntimeError("epoch 3 failed")

    monkeypatch.setattr(train_module, "_train", fail)
    with pytest.raises(RuntimeError, match="epoch 3 failed"):
        train_module.train(TrainConfig(device="cpu"))
    assert group.calls == ["destroy"]  # no barrier: the peers would wait for a rank that never arrives
