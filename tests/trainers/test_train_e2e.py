"""End-to-end training on synthetic separable data: learns, writes checkpoints with a card, resumes exactly."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402

from fer_edge.card import ModelCard  # noqa: E402
from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch

LABELS = ["a", "b", "c", "d"]


def make_npz(path, n_per_class=64, side=16, seed=0):
    """Each class brightens one quadrant of a noisy image; linearly separable."""
    rng = np.random.default_rng(seed)
    out = {"class_names": np.array(LABELS)}
    for split, n in (("train", n_per_class), ("val", n_per_class // 4), ("test", n_per_class // 4)):
        xs, ys = [], []
        for c in range(len(LABELS)):
            x = rng.integers(0, 90, size=(n, side, side)).astype(np.uint8)
            r, q = divmod(c, 2)
            h = side // 2
            x[:, r * h:(r + 1) * h, q * h:(q + 1) * h] += 150
            xs.append(x)
            ys.append(np.full(n, c))
        out[f"x_{split}"] = np.concatenate(xs)
        out[f"y_{split}"] = np.concatenate(ys)
    np.savez(path, **out)
    return path


def tiny_config(tmp_path, **kw):
    base = dict(
        data=str(make_npz(tmp_path / "syn.npz")), input_size=(16, 16), arch="edgenet_tiny",
        optimizer="adamw", lr=0.01, weight_decay=0.0, batch_size=32, epochs=6,
        warmup_epochs=0.5, hflip=0.0, rotate=0.0, scale=0.0, translate=0.0, erasing=0.0, precision="fp32",
        threads=1, progress=False, output_dir=str(tmp_path / "run"), targets="hard",
    )
    base.update(kw)
    return TrainConfig(**base)


def test_learns_separable_data_and_writes_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path)
    summary = train(cfg, command="pytest")
    assert summary["history"][-1]["train_accuracy"] > 0.95
    assert summary["best_accuracy"] > 0.95
    best = load_checkpoint(summary["best_checkpoint"])
    for key in ("arch", "num_classes", "in_chans", "model_kwargs", "state_dict", "card", "config", "metrics",
                "epoch", "optimizer", "scheduler"):
        assert key in best, key
    card = ModelCard.from_dict(best["card"])
    assert card.labels == tuple(LABELS)
    assert card.input_size == (16, 16) and card.color == "gray"
    assert card.provenance["config_sha256"] == cfg.sha256()
    assert card.provenance["command"] == "pytest"
    assert "val_accuracy" in card.metrics
    model, card2 = model_from_checkpoint(summary["best_checkpoint"])
    assert card2 == card
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == cfg.epochs and "val_macro_f1" in json.loads(lines[-1])


def test_resume_continues_the_same_run(tmp_path):
    kw = dict(epochs=3, ema=True, ema_decay=0.9, hflip=0.5, erasing=0.3, rotate=5.0, targets="hard")
    full = train(tiny_config(tmp_path, output_dir=str(tmp_path / "full"), **kw))
    part = tiny_config(tmp_path, output_dir=str(tmp_path / "part"), **kw)
    train(part, stop_after=2)  # "interrupted" after 2 of 3 epochs
    ck = load_checkpoint(tmp_path / "part" / "last.ckpt")
    assert ck["epoch"] == 2
    resumed = train(part, resume="auto")
    a = load_checkpoint(full["last_checkpoint"])
    b = load_checkpoint(resumed["last_checkpoint"])
    assert b["epoch"] == 3
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), atol=1e-6), k
    for k, v in a["ema_state_dict"].items():
        assert torch.allclose(v.float(), b["ema_state_dict"][k].float(), atol=1e-6), k
    assert [h["train_loss"] for h in full["history"]] == pytest.approx([h["train_loss"] for h in resumed["history"]])


def test_resume_from_an_incompatible_checkpoint_is_a_clear_error(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, max_steps_per_epoch=1)
    train(cfg)
    ck = load_checkpoint(tmp_path / "run" / "last.ckpt")
    del ck["optimizer"]
    from fer_edge.trainers.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "weights_only.ckpt", ck)
    with pytest.raises(InvalidInputError, match="cannot resume.*optimizer"):
        train(cfg.replace(epochs=2), resume=str(tmp_path / "weights_only.ckpt"))
    with pytest.raises(InvalidInputError, match="cannot resume"):  # another architecture's weights
        train(cfg.replace(epochs=2, arch="edgenet_s"), resume=str(tmp_path / "run" / "last.ckpt"))


def test_num_classes_mismatch_names_the_setting(tmp_path):
    with pytest.raises(InvalidInputError, match="num_classes"):
        train(tiny_config(tmp_path, num_classes=7))


def test_a_diverging_run_stops_with_the_settings_to_change(tmp_path):
    from fer_edge.errors import FerEdgeError

    with pytest.raises(FerEdgeError, match=r"loss became (nan|inf).*TrainConfig.lr \(now 1e\+12\).*grad_clip"):
        train(tiny_config(tmp_path, optimizer="sgd", lr=1e12, warmup_epochs=0.0))


def test_early_stop(tmp_path):
    cfg = tiny_config(tmp_path, epochs=20, early_stop=1, lr=1e-9, schedule="constant", warmup_epochs=0)
    summary = train(cfg)
    assert summary["stopped_early"] and summary["epochs_run"] < 20


@pytest.mark.parametrize("sampler,kw", [("mrr", {}), ("m_per_class", {"m": 4})])
def test_class_samplers(tmp_path, sampler, kw):
    cfg = tiny_config(tmp_path, epochs=2, sampler=sampler, sampler_kwargs=kw, batch_size=16)
    summary = train(cfg)
    assert summary["epochs_run"] == 2 and np.isfinite(summary["history"][-1]["train_loss"])


def test_adcorre_loss_and_model_through_the_loop(tmp_path):
    cfg = tiny_config(tmp_path, arch="adcorre_edgenet", loss="adcorre", epochs=1, sampler="m_per_class",
                      sampler_kwargs={"m": 4}, batch_size=16, max_steps_per_epoch=4)
    summary = train(cfg)
    assert np.isfinite(summary["history"][-1]["train_loss"])
    card = ModelCard.from_dict(load_checkpoint(summary["best_checkpoint"])["card"])
    assert card.arch == "adcorre_edgenet"


def test_cli_train_on_a_class_folder_with_a_corrupt_image(tmp_path, caplog):
    import logging

    import cv2

    from fer_edge.cli import main

    rng = np.random.default_rng(0)
    for c, cls in enumerate(("happy", "sad")):
        (tmp_path / "faces" / cls).mkdir(parents=True)
        for i in range(12):
            img = rng.integers(0, 60, (20, 20, 3)).astype(np.uint8)
            img[:, c * 10:(c + 1) * 10] += 180
            assert cv2.imwrite(str(tmp_path / "faces" / cls / f"{i}.png"), img)
    (tmp_path / "faces" / "sad" / "broken.png").write_bytes(b"\x89PNG truncated")
    cfg = tiny_config(tmp_path, data=str(tmp_path / "faces"), epochs=2, val_fraction=0.25, batch_size=8)
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    with caplog.at_level(logging.WARNING):
        rc = main(["train", "--config", str(tmp_path / "c.yaml"), "--output", str(tmp_path / "cli_run")])
    assert rc == 0
    assert "skipped 1 unreadable/corrupt image(s)" in caplog.text
    ck = load_checkpoint(tmp_path / "cli_run" / "best.ckpt")
    assert ck["card"]["labels"] == ["happy", "sad"]
    assert "fer-edge train" in ck["card"]["provenance"]["command"]


def test_grad_clip_covers_the_loss_parameters(tmp_path, monkeypatch):
    """Weighted-cluster centres are stepped by the optimizer, so clipping must bound their gradients too."""
    clipped = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **kw):
        params = list(params)
        clipped.append({id(p) for p in params})
        return real(params, max_norm, *a, **kw)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    cfg = tiny_config(tmp_path, loss="weighted_cluster", grad_clip=1.0, epochs=1, max_steps_per_epoch=2)
    summary = train(cfg)
    centres = load_checkpoint(summary["last_checkpoint"])["criterion"]
    assert clipped and len(centres) > 0
    n_model = sum(1 for _ in model_from_checkpoint(summary["last_checkpoint"])[0].parameters())
    assert all(len(ids) > n_model for ids in clipped), "clip_grad_norm_ saw only the model's parameters"


def test_no_progress_also_silences_the_preprocessing_bar(tmp_path, monkeypatch):
    import fer_edge.trainers.train as train_module

    seen = []

    def record(split, card, *, where="", progress=False):
        seen.append(progress)
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(train_module, "materialize", record)
    cfg = TrainConfig(data=str(make_npz(tmp_path / "d.npz", n_per_class=4)), output_dir=str(tmp_path / "run"),
                      progress=False, threads=1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    assert seen == [False]


def test_the_loop_is_named_steps_that_compose_to_train(tmp_path):
    """prepare_data → build_run → train_one_epoch → validate_and_checkpoint, called by hand, is one train() epoch."""
    from fer_edge.trainers import distributed as D
    from fer_edge.trainers import train as T

    cfg = tiny_config(tmp_path, epochs=1, output_dir=str(tmp_path / "whole"))
    whole = train(cfg)["history"][0]
    cfg = cfg.replace(output_dir=str(tmp_path / "steps"))
    info, device = D.DistInfo(), torch.device("cpu")
    prep = T.prepare_data(cfg, info)
    run = T.build_run(cfg, prep, device, info, resume=None)
    state = T._State()
    record = T.train_one_epoch(run, run.model, prep, cfg, 0, state, device, info)
    state.epoch = 1
    (tmp_path / "steps").mkdir()
    assert T.validate_and_checkpoint(run, prep, cfg, state, [], record, tmp_path / "steps", device)
    assert record["train_loss"] == pytest.approx(whole["train_loss"], rel=1e-6)
    assert record["val_accuracy"] == pytest.approx(whole["val_accuracy"])
    assert (tmp_path / "steps" / "best.ckpt").is_file() and state.best_epoch == 0


def test_mixup_cutmix_and_photometric_augmentation_still_learn(tmp_path):
    cfg = tiny_config(tmp_path, targets="soft", mixup=0.4, cutmix=1.0, mix_prob=0.5, gamma_jitter=0.3, blur=0.3,
                      brightness=0.1, contrast=0.1, epochs=8)
    summary = train(cfg, command="pytest")
    assert summary["best_accuracy"] > 0.9
