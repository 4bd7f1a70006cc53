"""Distillation pieces: teacher soft-target files, blending them into training, warm starts from an ONNX export."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import load_checkpoint  # noqa: E402
from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.teacher import FORMAT, FORMAT_V1, read_teacher, save_teacher, teacher_targets, with_teacher  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402
from test_train_e2e import LABELS, make_npz, tiny_config  # noqa: E402

from fer_edge.datasets import load_dataset  # noqa: E402
from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch


def _teacher_file(path, data, probs, val_probs=None):
    targets = {"probs": {"train": probs.astype(np.float32)}, "hard": {"train": data.splits["train"].labels},
               "labels": list(data.labels), "meta": {"test": True}}
    if val_probs is not None:
        targets["probs"]["val"], targets["hard"]["val"] = val_probs.astype(np.float32), data.splits["val"].labels
    return save_teacher(targets, path)


def test_student_follows_the_teacher_not_the_labels(tmp_path):
    """A teacher that names the next class for every image, at full weight, is what the student learns."""
    cfg = tiny_config(tmp_path, targets="soft", epochs=6)
    data = load_dataset(cfg.data)
    y = data.splits["train"].labels
    shifted = np.eye(len(LABELS))[(y + 1) % len(LABELS)]
    teacher = _teacher_file(tmp_path / "teacher.npz", data, shifted)
    summary = train(cfg.replace(teacher=str(teacher), teacher_weight=1.0), command="pytest")
    # Val accuracy is measured against the true labels: the student learned the teacher's shifted classes.
    assert summary["best_accuracy"] < 0.1
    plain = train(cfg.replace(output_dir=str(tmp_path / "plain")), command="pytest")
    assert plain["best_accuracy"] > 0.9


def test_blend_weights_own_targets_and_keeps_excluded_rows_out(tmp_path):
    data = load_dataset(make_npz(tmp_path / "d.npz"))
    train_split = data.splits["train"]
    train_split.labels[:3] = -1  # excluded rows: no label, no votes
    probs = np.full((len(train_split), len(LABELS)), 0.25)
    blended = with_teacher(data, _teacher_file(tmp_path / "t.npz", data, probs), 0.4).splits["train"].soft
    assert np.all(blended[:3] == 0), "rows the dataset excludes must stay out of training"
    k = int(train_split.labels[5])
    expected = 0.4 * 0.25 + np.where(np.arange(len(LABELS)) == k, 0.6, 0.0)
    np.testing.assert_allclose(blended[5], expected, rtol=1e-6)


def test_a_format_1_file_still_reads_as_train_targets(tmp_path):
    """Files written before per-split targets (probs / hard of the train split) keep working."""
    data = load_dataset(make_npz(tmp_path / "d.npz"))
    y = data.splits["train"].labels
    probs = np.eye(len(LABELS), dtype=np.float32)[(y + 1) % len(LABELS)]
    np.savez(tmp_path / "v1.npz", format=np.array(FORMAT_V1), probs=probs, labels=np.array(LABELS), hard=y,
             meta=np.array("{}"))
    blended = with_teacher(data, tmp_path / "v1.npz", 1.0)
    np.testing.assert_array_equal(blended.splits["train"].soft, probs)
    assert blended.splits["val"].soft is None  # a train-only file leaves val alone


def test_fit_val_trains_on_train_and_val_with_val_teacher_targets(tmp_path):
    """fit_val: val's rows join training (with their own teacher targets), nothing is validated, last = best."""
    from fer_edge.trainers import distributed as D
    from fer_edge.trainers.train import prepare_data

    cfg = tiny_config(tmp_path, targets="soft", epochs=2, fit_val=True)
    data = load_dataset(cfg.data)
    n_train, n_val = len(data.splits["train"]), len(data.splits["val"])
    uniform = lambda n: np.full((n, len(LABELS)), 1 / len(LABELS))  # noqa: E731
    fix = "no val-split targets; re-make it with `fer-edge teacher … --splits train val`"
    with pytest.raises(InvalidInputError, match=fix):
        prepare_data(cfg.replace(teacher=str(_teacher_file(tmp_path / "t1.npz", data, uniform(n_train)))), D.DistInfo())
    teacher = _teacher_file(tmp_path / "t2.npz", data, uniform(n_train), uniform(n_val))
    prep = prepare_data(cfg.replace(teacher=str(teacher), teacher_weight=1.0), D.DistInfo())
    assert prep.val is None and len(prep.idx) == n_train + n_val
    np.testing.assert_allclose(prep.soft[n_train:].numpy(), uniform(n_val), rtol=1e-6)  # val rows: teacher targets
    summary = train(cfg, command="pytest")
    assert [r["epoch"] for r in summary["history"]] == [1, 2]
    assert not any(k.startswith("val_") for k in summary["history"][-1])
    best, last = (load_checkpoint(Path(cfg.output_dir) / n) for n in ("best.ckpt", "last.ckpt"))
    assert best["epoch"] == last["epoch"] == 2
    with pytest.raises(InvalidInputError, match="early_stop"):
        cfg.replace(early_stop=3).validate()
    # Without a val split nothing is held out (val_fraction is not applied), and a train-only teacher file is enough.
    with np.load(cfg.data) as z:
        np.savez(tmp_path / "noval.npz", **{k: z[k] for k in z.files if not k.endswith("_val")})
    no_val = cfg.replace(data=str(tmp_path / "noval.npz"), teacher=str(_teacher_file(tmp_path / "t3.npz", data,
                                                                                        uniform(n_train))))
    prep = prepare_data(no_val, D.DistInfo())
    assert prep.val is None and len(prep.idx) == n_train


def test_teacher_file_must_match_the_data(tmp_path):
    data = load_dataset(make_npz(tmp_path / "d.npz"))
    other = load_dataset(make_npz(tmp_path / "o.npz", seed=1, n_per_class=32))
    path = _teacher_file(tmp_path / "t.npz", other, np.full((len(other.splits["train"]), 4), 0.25))
    with pytest.raises(InvalidInputError, match="train split has"):
        with_teacher(data, path, 0.5)
    np.savez(tmp_path / "x.npz", probs=np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match=FORMAT) as wrong_format:
        with_teacher(data, tmp_path / "x.npz", 0.5)
    assert "not a readable" not in str(wrong_format.value), "the format error is raised as it is, not wrapped"
    np.savez(tmp_path / "lacking.npz", format=np.array(FORMAT), splits=np.array(["train"]), labels=np.array(LABELS))
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:100])
    for broken in ("lacking.npz", "cut.npz"):
        with pytest.raises(InvalidInputError, match="not a readable teacher file"):
            with_teacher(data, tmp_path / broken, 0.5)
    with pytest.raises(InvalidInputError, match="targets: soft"):
        TrainConfig(teacher="t.npz", targets="hard")
    with pytest.raises(InvalidInputError, match="teacher_weight"):
        TrainConfig(teacher="t.npz", teacher_weight=1.5)


def test_teacher_targets_from_an_onnx_model(tmp_path):
    pytest.importorskip("onnx")
    from fakes.tiny_models import write_tiny_classifier

    from fer_edge.card import ModelCard

    card = ModelCard(labels=tuple(LABELS), input_size=(16, 16), name="tiny-teacher")
    model = write_tiny_classifier(tmp_path / "t.onnx", card=card, classes=4, size=16)
    data_path = make_npz(tmp_path / "d.npz")
    sharp = teacher_targets([model], data_path, temperature=1.0, threads=1)["probs"]["train"]
    soft = teacher_targets([model, model], data_path, temperature=4.0, threads=1)["probs"]["train"]
    n = len(load_dataset(data_path).splits["train"])
    assert sharp.shape == (n, 4)
    np.testing.assert_allclose(sharp.sum(1), 1.0, rtol=1e-5)
    # The tiny model's logits are 4*mean for class 1 and -4*mean for class 2: temperature softens them.
    assert soft.max(1).mean() < sharp.max(1).mean()
    with pytest.raises(InvalidInputError, match="temperature"):
        teacher_targets([model], data_path, temperature=0.0)
    val_only = save_teacher(teacher_targets([model], data_path, splits=("val",), threads=1), tmp_path / "v.npz")
    with pytest.raises(InvalidInputError, match="no train-split targets"):  # scoring val alone is for comparing
        with_teacher(load_dataset(data_path), val_only, 0.5)
    # Scored per split, val included (for fit_val); a saved file gives each split back.
    both = teacher_targets([model], data_path, splits=("train", "val"), threads=1)
    np.testing.assert_allclose(both["probs"]["train"], sharp, rtol=1e-6)
    labels, by_split = read_teacher(save_teacher(both, tmp_path / "both.npz"))
    assert labels == list(LABELS) and set(by_split) == {"train", "val"}
    assert by_split["val"][0].shape == (len(load_dataset(data_path).splits["val"]), 4)


def test_a_teacher_that_outputs_probabilities_is_not_softmaxed_again(tmp_path):
    """softmax(log p / T) is the probs-output teacher's distribution at temperature T: the same as its logits'."""
    pytest.importorskip("onnx")
    from fakes.tiny_models import write_tiny_classifier

    from fer_edge.card import ModelCard

    data_path = make_npz(tmp_path / "d.npz")
    for temperature in (1.0, 4.0):
        got = {}
        for output in ("logits", "probs"):
            card = ModelCard(labels=tuple(LABELS), input_size=(16, 16), name="tiny-teacher", output=output)
            model = write_tiny_classifier(tmp_path / f"{output}.onnx", card=card, classes=4, size=16,
                                          probs=output == "probs")
            got[output] = teacher_targets([model], data_path, temperature=temperature, threads=1)["probs"]["train"]
        np.testing.assert_allclose(got["probs"], got["logits"], atol=1e-5)
        assert got["logits"].max(1).mean() > 0.3  # not uniform: the check above compares real distributions


def test_warm_start_from_a_bn_folded_onnx_export(tmp_path):
    pytest.importorskip("onnxsim")
    from fer_edge.engines.export import onnx_from_checkpoint
    from fer_edge.engines.simplify import simplified_onnx
    from fer_edge.trainers.checkpoint import save_checkpoint
    from fer_edge.trainers.models import create_model
    from fer_edge.trainers.onnx_weights import state_dict_from_onnx

    from fer_edge.card import ModelCard

    torch.manual_seed(0)
    model = create_model("edgenet_tiny", num_classes=4, in_chans=1, dropout=0.0)
    for m in model.modules():  # non-trivial BatchNorms, so folding them changes the conv weights
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    card = ModelCard(labels=tuple(LABELS), input_size=(16, 16), name="tiny", arch="edgenet_tiny")
    ckpt = tmp_path / "m.ckpt"
    save_checkpoint(ckpt, dict(arch="edgenet_tiny", num_classes=4, in_chans=1, model_kwargs={"dropout": 0.0},
                               state_dict=model.state_dict(), card=card.to_dict(), metrics={}, epoch=1))
    onnx_path = simplified_onnx(onnx_from_checkpoint(ckpt, tmp_path / "m.onnx").path).path
    x = torch.randn(64, 1, 16, 16)
    want = model(x)

    fresh = create_model("edgenet_tiny", num_classes=4, in_chans=1, dropout=0.0)
    fresh.load_state_dict(state_dict_from_onnx(fresh, onnx_path))
    torch.testing.assert_close(fresh.eval()(x), want, atol=1e-4, rtol=1e-4)

    measured = create_model("edgenet_tiny", num_classes=4, in_chans=1, dropout=0.0)
    measured.load_state_dict(state_dict_from_onnx(measured, onnx_path, sample=x))
    torch.testing.assert_close(measured.eval()(x), want, atol=1e-4, rtol=1e-4)
    # With statistics measured on the batch, train mode (batch statistics) computes the same function on it.
    torch.testing.assert_close(measured.train()(x), want, atol=1e-3, rtol=1e-3)

    other = create_model("edgenet_s", num_classes=4, in_chans=1)
    with pytest.raises(InvalidInputError, match="not the same"):
        state_dict_from_onnx(other, onnx_path)


def test_teacher_paths_in_a_config_file_are_relative_to_it(tmp_path):
    (tmp_path / "c.yaml").write_text("data: d.npz\nteacher: t.npz\n")
    cfg = TrainConfig.from_file(tmp_path / "c.yaml")
    assert Path(cfg.teacher) == tmp_path / "t.npz" and Path(cfg.data) == tmp_path / "d.npz"
    repo = Path(__file__).resolve().parents[2]
    shipped = TrainConfig.from_file(repo / "configs" / "ferplus_teacher.yaml")
    assert Path(shipped.data) == repo / "out" / "gpu" / "ferplus_trainval.npz"  # where `make gpu-data` writes
