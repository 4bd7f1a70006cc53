"""Evaluation: hand-computed metrics, leak-free subsets, checkpoint vs ONNX (runtime backend), CLI report files."""

import json

import numpy as np
import pytest
from fer_edge.trainers.evaluate import classification_metrics, confusion_matrix, metrics_with_leak

from fer_edge.errors import InvalidInputError


def test_metrics_on_a_hand_computed_case():
    y = [0, 0, 1, 1, 2, -1]
    p = [0, 1, 1, 1, 0, 2]  # the -1 row is ignored
    m = classification_metrics(y, p, ["a", "b", "c"])
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["per_class_recall"] == {"a": 0.5, "b": 1.0, "c": 0.0}
    # F1: a: P=1/2 R=1/2 → .5; b: P=2/3 R=1 → .8; c: 0 → macro .4333
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert confusion_matrix(np.array([1]), np.array([0]), 2).tolist() == [[0, 0], [1, 0]]


def test_leak_free_subset():
    y = np.array([0, 1, 0, 1])
    p = np.array([0, 1, 1, 0])
    leak = np.array([False, False, True, True])
    out = metrics_with_leak(y, p, ["a", "b"], leak)
    assert out["all"]["accuracy"] == 0.5
    assert out["without_leak"]["accuracy"] == 1.0
    assert out["without_leak"]["removed_leak_images"] == 2
    assert "without_leak" not in metrics_with_leak(y, p, ["a", "b"], None)


torch_only = pytest.mark.torch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(folder with d.npz, best checkpoint) of a 3-class model trained once for this module."""
    tmp_path = tmp_path_factory.mktemp("tiny")
    pytest.importorskip("torch")
    from fer_edge.trainers.config import TrainConfig
    from fer_edge.trainers.train import train

    rng = np.random.default_rng(0)
    xs, ys = [], []
    for c in range(3):
        x = rng.integers(0, 80, size=(40, 16, 16)).astype(np.uint8)
        x[:, :, c * 5:(c + 1) * 5] += 170
        xs.append(x)
        ys.append(np.full(40, c))
    x, y = np.concatenate(xs), np.concatenate(ys)
    leak = np.zeros(len(y), bool)
    leak[::7] = True
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_val=x[::2], y_val=y[::2], x_test=x, y_test=y,
             leak_test=leak, class_names=np.array(["left", "mid", "right"]))
    cfg = TrainConfig(data=str(tmp_path / "d.npz"), input_size=(16, 16), optimizer="adamw", lr=0.01, epochs=4,
                      batch_size=30, hflip=0.0, rotate=0.0, scale=0.0, translate=0.0, erasing=0.0,
                      precision="fp32", threads=1, progress=False, output_dir=str(tmp_path / "run"))
    return tmp_path, train(cfg)["best_checkpoint"]


def _onnx_with_card(ckpt, path, **card_changes):
    """The checkpoint exported plainly (no onnxsim) with its card, changed by ``card_changes``, attached."""
    pytest.importorskip("onnx")
    import onnx
    import torch
    from fer_edge.trainers.checkpoint import model_from_checkpoint

    from fer_edge.card import CARD_METADATA_KEY

    model, card = model_from_checkpoint(ckpt)
    torch.onnx.export(model, torch.zeros(1, 1, 16, 16), str(path), input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    m = onnx.load(str(path))
    entry = m.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.replace(**card_changes).to_json()
    onnx.save(m, str(path))
    return path


@torch_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_checkpoint_and_onnx_evaluate_the_same(tiny, tmp_path):
    data_dir, ckpt = tiny
    from fer_edge.trainers.evaluate import evaluate_model_file

    onnx_path = _onnx_with_card(ckpt, tmp_path / "m.onnx")
    r_ckpt = evaluate_model_file(ckpt, data_dir / "d.npz", split="test")
    r_onnx = evaluate_model_file(onnx_path, data_dir / "d.npz", split="test", threads=1)
    assert r_ckpt["runner"] == "torch" and r_onnx["runner"].startswith("runtime:")
    assert r_ckpt["all"]["n"] == 120
    assert r_ckpt["all"]["accuracy"] > 0.9
    assert r_onnx["all"]["confusion"] == r_ckpt["all"]["confusion"]
    assert r_ckpt["without_leak"]["n"] == 120 - 18
    assert r_ckpt["without_leak"]["removed_leak_images"] == 18


@torch_only
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_eval_follows_the_cards_tta_unless_told(tiny, tmp_path, capsys):
    """A card that says tta=flip is evaluated as Recognizer runs it; --tta none / flip override it."""
    data_dir, ckpt = tiny
    from fer_edge.cli import main

    onnx_path = _onnx_with_card(ckpt, tmp_path / "flip.onnx", tta="flip")
    reports = {}
    for mode in ("card", "none", "flip"):
        out = tmp_path / mode
        assert main(["eval", str(onnx_path), "--data", str(data_dir / "d.npz"), "--threads", "1", "--tta", mode,
                     "--no-png", "--out", str(out)]) == 0
        reports[mode] = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert reports["card"]["tta_flip"] is True and reports["none"]["tta_flip"] is False
    assert reports["card"]["all"]["confusion"] == reports["flip"]["all"]["confusion"]
    # left / right classes: the mirrored opinion confuses them, so the two evaluations really differ
    assert reports["none"]["all"]["confusion"] != reports["flip"]["all"]["confusion"]

@torch_only
def test_cli_eval_writes_json_and_png(tiny, tmp_path, capsys):
    data_dir, ckpt = tiny
    from fer_edge.cli import main

    rc = main(["eval", ckpt, "--data", str(data_dir / "d.npz"), "--out", str(tmp_path / "rep"), "--tta-flip"])
    assert rc == 0
    assert "accuracy" in capsys.readouterr().out
    data = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert data["tta_flip"] is True and len(data["all"]["confusion"]) == 3
    pytest.importorskip("matplotlib")
    assert (tmp_path / "rep" / "confusion.png").stat().st_size > 1000


@torch_only
def test_eval_rejects_a_dataset_with_other_labels(tiny, tmp_path):
    _, ckpt = tiny
    from fer_edge.trainers.evaluate import evaluate_model_file

    np.savez(tmp_path / "other.npz", x_train=np.zeros((4, 16, 16), np.uint8), y_train=np.array([0, 1, 0, 1]),
             x_test=np.zeros((2, 16, 16), np.uint8), y_test=np.array([0, 1]), class_names=np.array(["left", "up"]))
    with pytest.raises(InvalidInputError, match="'up'"):
        evaluate_model_file(ckpt, tmp_path / "other.npz")


@torch_only
def test_eval_of_a_model_fitted_on_val_also_scores_the_test_images_only_val_showed_it(tiny, tmp_path, capsys):
    """``--fitted-on val``: "unseen" leaves out the test images that are in val but not in train."""
    data_dir, ckpt = tiny
    from fer_edge.cli import main

    with np.load(data_dir / "d.npz") as d:
        x, y = d["x_test"], d["y_test"]
    odd = np.arange(len(y)) % 2 == 1
    val = odd & (np.arange(len(y)) < 60)  # 30 test images only val holds; test's even images are train's too
    np.savez(tmp_path / "fv.npz", x_train=x[~odd], y_train=y[~odd], x_val=x[val], y_val=y[val], x_test=x,
             y_test=y, class_names=np.array(["left", "mid", "right"]))
    rc = main(["eval", ckpt, "--data", str(tmp_path / "fv.npz"), "--fitted-on", "val", "--out", str(tmp_path / "r"),
               "--no-png"])
    assert rc == 0 and "images seen only in ['val']" in capsys.readouterr().out
    report = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert report["all"]["n"] == 120 and report["unseen"]["n"] == 90
    assert report["unseen"]["removed_seen_images"] == 30 and report["unseen"]["fitted_on"] == ["val"]
    from fer_edge.trainers.evaluate import evaluate_model_file

    with pytest.raises(InvalidInputError, match="fitted on 'test'"):
        evaluate_model_file(ckpt, tmp_path / "fv.npz", split="test", fitted_on=("test",))


def test_duplicates_in_compares_pixels_not_positions():
    from fer_edge.datasets import Split, duplicates_in

    a = np.arange(4 * 9, dtype=np.uint8).reshape(4, 3, 3)
    other = Split(np.stack([a[2], a[0] + 1]), np.array([0, 1]))
    assert duplicates_in(Split(a, np.zeros(4)), [other]).tolist() == [False, False, True, False]
    train = Split(a[2:3].copy(), np.array([0]))
    assert duplicates_in(Split(a, np.zeros(4)), [other], excluding=[train]).tolist() == [False] * 4
