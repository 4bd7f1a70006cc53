"""A real training run on a CUDA device (gpu-marked: runs in `make gpu-check`, skipped without a GPU)."""

import math

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import load_checkpoint  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402
from test_train_e2e import tiny_config  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.torch]


def test_training_steps_run_on_cuda(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device")
    summary = train(tiny_config(tmp_path, device="cuda", epochs=3), command="pytest")
    losses = [row["train_loss"] for row in summary["history"]]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert summary["best_accuracy"] > 0.9
    state = load_checkpoint(summary["best_checkpoint"])["state_dict"]
    assert all(t.device.type == "cpu" for t in state.values()), "checkpoints must load on CPU-only machines"
