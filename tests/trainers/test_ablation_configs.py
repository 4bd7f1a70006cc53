"""The ablation configs (configs/ablation/*.yaml) and the FER2013 Ad-Corre config load as valid TrainConfigs and
build their model, criterion and sampler; one training-mode forward + loss + backward per config (no training)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fakes.torch_threads import one_thread_fixture  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.models import create_model  # noqa: E402
from fer_edge.trainers.models.outputs import train_outputs  # noqa: E402
from fer_edge.trainers.samplers import build_sampler  # noqa: E402
from fer_edge.trainers.train import build_criterion  # noqa: E402

pytestmark = pytest.mark.torch
_one_thread = one_thread_fixture()

ROOT = Path(__file__).resolve().parents[2]
ABLATION = sorted((ROOT / "configs" / "ablation").glob("*.yaml"))
FER2013 = ROOT / "configs" / "fer2013_adcorre.yaml"
ALL = ABLATION + [FER2013]
# FER+ rows: 8 classes; the FER2013 row: the 7 original labels.
NUM_CLASSES = {FER2013.name: 7}


def test_every_issue6_row_has_a_config():
    names = {p.stem for p in ABLATION}
    assert {"a_ce", "b_adcorre", "c_adcorre_no_omega", "d_wcluster", "e_arm"} <= names
    assert FER2013.is_file()


def test_ablation_rows_share_backbone_and_budget():
    cfgs = [TrainConfig.from_file(p) for p in ABLATION]
    same = ("epochs", "batch_size", "lr", "seed", "threads", "input_size", "color", "targets", "max_steps_per_epoch",
            "optimizer", "schedule", "ema", "hflip", "rotate", "scale", "translate", "erasing", "data")
    for key in same:
        # rows i (Ranger + GC) and k (DeRL's GAN: AdamW) swap the optimiser and its learning rate; all else is shared
        rows = [c for c in cfgs if not (key in ("optimizer", "lr", "betas") and c.optimizer != "sgd")]
        assert len({repr(getattr(c, key)) for c in rows}) == 1, key
    for c in cfgs:
        assert c.threads == 1
        if c.arch == "derl":  # DLP-DeRL classifies from its own generator's decoder, not from a backbone
            continue
        backbone = c.arch if c.arch.startswith("edgenet") else c.model_kwargs.get("variant")
        assert backbone == "edgenet_s", c.name
    by = {p.stem: c for p, c in zip(ABLATION, cfgs)}
    assert by["b_adcorre"].loss_kwargs["adaptive_omega"] is True
    assert by["c_adcorre_no_omega"].loss_kwargs["adaptive_omega"] is False
    assert by["e_arm"].arch == "arm_edgenet" and by["a_ce"].arch == "edgenet_s"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_config_builds_model_criterion_sampler(path):
    cfg = TrainConfig.from_file(path)
    k = NUM_CLASSES.get(path.name, 8)
    torch.manual_seed(0)
    model = create_model(cfg.arch, k, len(cfg.mean), **dict(cfg.model_kwargs))
    labels = np.arange(40 * k) % k
    criterion = build_criterion(cfg, k, soft_targets=cfg.targets == "soft", class_counts=[40] * k,
                                feature_dim=getattr(model, "feature_dim", None))
    if cfg.sampler != "shuffle":
        sampler = build_sampler(cfg.sampler, labels, batch_size=cfg.batch_size, seed=cfg.seed,
                                **dict(cfg.sampler_kwargs))
        batch = np.asarray(next(iter(sampler)))  # build_sampler yields whole batches of indices
        assert len(batch) == cfg.batch_size
        counts = np.bincount(labels[batch], minlength=k)
        # m images of each drawn class: positive pairs for the correlation losses; here every class is drawn
        assert set(counts.tolist()) == {cfg.sampler_kwargs["m"]}
    n = 2 * k
    x = torch.randn(n, len(cfg.mean), *cfg.input_size)
    y = torch.arange(n) % k
    soft = torch.nn.functional.one_hot(y, k).float()
    model.train()
    outputs = train_outputs(model, x)
    assert outputs["logits"].shape == (n, k)
    loss, parts = criterion(outputs, y, soft=soft)
    assert torch.isfinite(loss)
    if cfg.loss == "adcorre":
        assert "embeddings" in outputs
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
