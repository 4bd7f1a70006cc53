"""tools/compare_candidates.py: val-only rows for each model, single and flip-averaged, and their ensembles."""

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier
from fakes.tool_module import load_tool

from fer_edge.card import FERPLUS_LABELS


def test_rows_for_models_and_ensembles_from_val_only(tmp_path, capsys, monkeypatch):
    pytest.importorskip("onnx")
    import fer_edge.trainers.arrays as arrays

    preprocessed = []
    real = arrays.arrays_from_split
    monkeypatch.setattr(arrays, "arrays_from_split",
                        lambda *a, **k: preprocessed.append(k["where"]) or real(*a, **k))
    rng = np.random.default_rng(0)
    n = 40
    bright = rng.integers(170, 255, (n, 48, 48)).astype(np.uint8)
    dark = rng.integers(0, 80, (n, 48, 48)).astype(np.uint8)
    x_val = np.concatenate([bright, dark])
    y_val = np.array([1] * n + [2] * n)  # the tiny model: bright → happiness (1), dark → surprise (2)
    # test holds the opposite labels: a tool that read it would report 0 % accuracy
    y_train = np.arange(16) % 8  # the reader needs every class in train; the tool never looks at it
    np.savez(tmp_path / "d.npz", x_train=x_val[:16], y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_val,
             y_test=y_val[::-1], class_names=np.array(FERPLUS_LABELS))
    a = write_tiny_classifier(tmp_path / "a.onnx")
    b = write_tiny_classifier(tmp_path / "b.onnx")
    tool = load_tool("compare_candidates")
    assert tool.main([str(a), str(b), "--data", str(tmp_path / "d.npz"), "--threads", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "|---" not in line]
    names = [r.split("|")[1].strip() for r in rows[1:]]
    assert names == [f"{a} single", f"{a} flip", f"{b} single", f"{b} flip", f"{a} + {b} (flip)", f"{a} + {b} (single)"]
    assert all(r.split("|")[2].strip() == "100.00" for r in rows[1:])
    # two models with the same card, each scored twice: val is preprocessed once
    assert preprocessed == [f"{tmp_path / 'd.npz'}:val"]
