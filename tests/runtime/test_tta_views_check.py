"""tools/tta_views_check.py: the extra test-time views are the transforms their names say, scored on val only."""

import numpy as np
import pytest
from fakes.tiny_models import write_tiny_classifier
from fakes.tool_module import load_tool

from fer_edge.card import FERPLUS_LABELS


def test_views_are_mirror_zoom_and_shift():
    pytest.importorskip("cv2")
    tool = load_tool("tta_views_check")
    x = np.random.default_rng(0).normal(size=(2, 1, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(tool._view(x, "id"), x)
    np.testing.assert_array_equal(tool._view(x, "flip"), x[..., ::-1])
    np.testing.assert_allclose(tool._view(x, "z1.0"), x, atol=1e-6)
    np.testing.assert_allclose(tool._view(x, "s+1")[..., 1:], x[..., :-1], atol=1e-6)  # content moves right
    zoomed = tool._view(x, "z1.08")
    np.testing.assert_allclose(tool._view(x, "z1.08f"), zoomed[..., ::-1], atol=1e-6)
    assert not np.allclose(zoomed, x)


def test_scores_val_not_test(tmp_path, capsys):
    pytest.importorskip("onnx")
    rng = np.random.default_rng(0)
    x_val = np.concatenate([rng.integers(170, 255, (20, 48, 48)), rng.integers(0, 80, (20, 48, 48))]).astype(np.uint8)
    y_val = np.array([1] * 20 + [2] * 20)  # the tiny model: bright → happiness (1), dark → surprise (2)
    np.savez(tmp_path / "d.npz", x_train=x_val[:16], y_train=np.arange(16) % 8, x_val=x_val, y_val=y_val,
             x_test=x_val, y_test=y_val[::-1], class_names=np.array(FERPLUS_LABELS))
    model = write_tiny_classifier(tmp_path / "a.onnx")
    assert load_tool("tta_views_check").main([str(model), "--data", str(tmp_path / "d.npz")]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith(f"| {model}")]
    assert len(rows) == len(load_tool("tta_views_check").VIEW_SETS)
    assert all(r.split("|")[4].strip() == "100.00" for r in rows)  # test's reversed labels would give 0
