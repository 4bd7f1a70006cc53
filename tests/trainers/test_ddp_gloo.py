"""DDP: a 2-process gloo run (torchrun on CPU) ends with the same weights as one process with the same global batch."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import load_checkpoint  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]  # ~10 s: three interpreters start torch

# A model without BatchNorm: with BN each process normalises its half batch, so weights legitimately differ.
PLUGIN = textwrap.dedent('''
    from torch import nn
    from fer_edge.trainers.models import register_model

    @register_model("ddp_probe_mlp")
    def ddp_probe_mlp(num_classes, in_chans=1, **kw):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * 16 * 16, 32), nn.ReLU(), nn.Linear(32, num_classes))

    class ProbeWithFeatures(nn.Module):
        feature_dim = 32

        def __init__(self, num_classes, in_chans):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_chans * 16 * 16, 32), nn.ReLU())
            self.fc = nn.Linear(32, num_classes)

        def forward(self, x):
            return self.fc(self.body(x))

        def forward_train(self, x):
            f = self.body(x)
            return {"logits": self.fc(f), "features": f}

    @register_model("ddp_probe_features")
    def ddp_probe_features(num_classes, in_chans=1, **kw):
        return ProbeWithFeatures(num_classes, in_chans)

    class ProbeWithEmbeddings(ProbeWithFeatures):
        def forward_train(self, x):
            f = self.body(x)
            return {"logits": self.fc(f), "embeddings": f.unsqueeze(0)}  # (k=1, n, d)

    @register_model("ddp_probe_embeddings")
    def ddp_probe_embeddings(num_classes, in_chans=1, **kw):
        return ProbeWithEmbeddings(num_classes, in_chans)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_data(path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 255, size=(96, 16, 16)).astype(np.uint8)
    y = rng.integers(0, 3, size=96)
    np.savez(path, x_train=x[:64], y_train=y[:64], x_val=x[64:], y_val=y[64:], class_names=np.array(["a", "b", "c"]))


def _single_and_ddp(tmp_path, monkeypatch, arch, loss):
    """Train the same config in one process and in two gloo processes; return both last checkpoints."""
    (tmp_path / "ddp_probe_models.py").write_text(PLUGIN)
    _write_data(tmp_path / "d.npz")
    common = dict(
        data=str(tmp_path / "d.npz"), input_size=(16, 16), arch=arch, imports=("ddp_probe_models",), loss=loss,
        optimizer="sgd", lr=0.2, momentum=0.9, weight_decay=1e-3, batch_size=16, epochs=2, warmup_epochs=0.5,
        hflip=0.0, rotate=0.0, scale=0.0, translate=0.0, erasing=0.0, precision="fp32", threads=1,
        progress=False, targets="hard", device="cpu",
        # dlp: a weight large enough that neighbours found in one process's half batch would change the weights
        loss_kwargs={"lambda_lp": 1.0, "lp_k": 3} if loss == "dlp" else {},
    )
    ddp_cfg = TrainConfig(output_dir=str(tmp_path / "ddp"), **common)
    (tmp_path / "ddp.yaml").write_text(ddp_cfg.to_yaml())
    # The environment torchrun gives each worker (`torchrun --nproc_per_node 2 -m fer_edge.trainers.train ...`),
    # set directly to save the agent process's start-up.
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
                   OMP_NUM_THREADS="1", RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        cmd = [sys.executable, "-m", "fer_edge.trainers.train", "--config", str(tmp_path / "ddp.yaml")]
        procs.append(subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    # the single-process reference runs while the workers start
    monkeypatch.syspath_prepend(str(tmp_path))
    single = train(TrainConfig(output_dir=str(tmp_path / "single"), **common))
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    return load_checkpoint(single["last_checkpoint"]), load_checkpoint(tmp_path / "ddp" / "last.ckpt")


@pytest.mark.parametrize("arch,loss", [("ddp_probe_mlp", "ce"), ("ddp_probe_features", "weighted_cluster"),
                                       ("ddp_probe_features", "dlp")])
def test_two_process_gloo_matches_single_process(tmp_path, monkeypatch, arch, loss):
    """With the weighted-cluster loss the class centres (a parameter of the loss, outside DDP) must agree too; the
    locality-preserving loss must find its neighbours in the whole global batch."""
    a, b = _single_and_ddp(tmp_path, monkeypatch, arch, loss)
    assert a["epoch"] == b["epoch"] == 2
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, atol=1e-5, rtol=1e-4)
    for k, v in a["criterion"].items():
        if v.is_floating_point():
            torch.testing.assert_close(b["criterion"][k], v, atol=1e-5, rtol=1e-4)
    # the run did train (weights moved away from the shared initialisation)
    torch.manual_seed(0)
    from fer_edge.trainers.models import create_model

    init = create_model(arch, 3, 1).state_dict()
    moved = max(float((init[k] - v).abs().max()) for k, v in a["state_dict"].items())
    assert moved > 1e-3


def test_adcorre_confusion_window_sees_the_global_batch(tmp_path, monkeypatch):
    """Ω's confusion window is filled from every process's slice, in the single-process order.

    Labels are fixed by the data order, so the window's labels match one process exactly; predictions may not (FD
    pairs only the samples of one process, so DDP weights legitimately drift from the single-process ones).
    """
    a, b = _single_and_ddp(tmp_path, monkeypatch, "ddp_probe_embeddings", "adcorre")
    labels = {k for k in a["criterion"] if k.endswith("labels")}
    assert labels, sorted(a["criterion"])
    for k in labels | {k.replace("labels", "ptr") for k in labels}:
        assert torch.equal(a["criterion"][k], b["criterion"][k]), k


def test_derl_gan_trains_under_two_process_gloo(tmp_path, monkeypatch):
    """DLP-DeRL under DDP: every model parameter gets a gradient each step (no unused-parameter error), and the
    loss's own networks (discriminator, judge) are trained and checkpointed. Its BatchNorm makes per-process
    statistics differ, so the weights are not compared with the single-process run."""
    a, b = _single_and_ddp(tmp_path, monkeypatch, "derl", "dlp_derl")
    assert a["epoch"] == b["epoch"] == 2
    d_keys = [k for k in b["criterion"] if k.startswith("gan.discriminator.")]
    assert d_keys and all(torch.isfinite(b["criterion"][k]).all() for k in d_keys)
    from fer_edge.trainers.losses import LossConfig, build_criterion
    from fer_edge.trainers.models import create_model

    torch.manual_seed(0)  # the run's initialisation: the model, then the loss, from the seed
    model = create_model("derl", 3, 1)
    init = build_criterion(LossConfig(derl=True, locality=True), 3, feature_dim=model.feature_dim,
                           in_chans=1).state_dict()
    assert max(float((init[k] - a["criterion"][k]).abs().max()) for k in d_keys) > 1e-4
    assert max(float((init[k] - b["criterion"][k]).abs().max()) for k in d_keys) > 1e-4  # D trained under DDP


def test_sync_bn_converts_for_multi_gpu_and_refuses_cpu():
    from fer_edge.trainers.distributed import DistInfo, sync_batchnorm
    from torch import nn

    from fer_edge.errors import InvalidInputError

    def model():
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())

    single, pair = DistInfo(), DistInfo(rank=0, world_size=2, backend="nccl")
    assert isinstance(sync_batchnorm(model(), single, torch.device("cuda"), True)[1], nn.BatchNorm2d)  # 1 process
    assert isinstance(sync_batchnorm(model(), pair, torch.device("cuda"), False)[1], nn.BatchNorm2d)  # not asked
    converted = sync_batchnorm(model(), pair, torch.device("cuda"), True)  # conversion itself needs no GPU
    assert isinstance(converted[1], nn.SyncBatchNorm)
    assert set(converted.state_dict()) == set(model().state_dict())  # checkpoints load into the plain model
    with pytest.raises(InvalidInputError, match="sync_bn needs CUDA"):
        sync_batchnorm(model(), DistInfo(rank=0, world_size=2, backend="gloo"), torch.device("cpu"), True)
