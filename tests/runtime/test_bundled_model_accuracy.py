"""The bundled FER+ models reproduce their card's test accuracy through the runtime (± 0.2 pt), on the real data."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import fer_edge
from fer_edge.backends import backend_from_path
from fer_edge.backends.flip_tta import FlipTTABackend
from fer_edge.card import FERPLUS_LABELS
from fer_edge.preprocess import preprocess

ASSETS = Path(fer_edge.__file__).resolve().parent / "assets"
BUNDLED = sorted(ASSETS.glob("ferplus_*.onnx"))


def _ferplus_test(shared_data: Path):
    path = shared_data / "ferplus.npz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    data = np.load(path)
    keep = data["y_test"] >= 0  # FER+ majority labels; -1 = excluded by the protocol
    return data["x_test"][keep], data["y_test"][keep].astype(np.int64)


@lru_cache(maxsize=None)
def _test_predictions(model_path: Path, shared_data: Path):
    """(predictions, labels) on FER+ test, computed once per model for every test below."""
    images, labels = _ferplus_test(shared_data)
    return _predict(model_path, images), labels


# Classes too rare in FER+ (18 disgust / 16 contempt test images) for a recall floor to mean anything.
RECALL_FLOOR_EXEMPT = ("contempt", "disgust")
RECALL_FLOOR = 0.50
# Shortfalls a release shipped with, recorded so they cannot hide another. Release 2 had fear (0.494); releases 3
# and 4 clear every floor (fear 0.55 / 0.57 INT8 with their cards' flip TTA).
KNOWN_SHORTFALLS: dict = {}


def _predict(model_path: Path, images: np.ndarray) -> np.ndarray:
    """Predictions as ``Recognizer`` makes them: with the card's test-time augmentation."""
    with backend_from_path(model_path, threads=1) as inner:
        card = inner.card
        backend = FlipTTABackend(inner) if card.tta == "flip" else inner
        batch = np.concatenate([preprocess(img, None, card) for img in images], axis=0)
        logits = np.concatenate([backend.infer(batch[i : i + 512]) for i in range(0, len(batch), 512)], axis=0)
    return logits.argmax(1)


def test_default_model_is_bundled():
    assert (ASSETS / "ferplus_default.onnx").is_file(), "fer_edge/assets/ferplus_default.onnx is missing"
    assert sum(p.stat().st_size for p in ASSETS.glob("ferplus_*")) <= 10 * 2**20, "bundled models exceed 10 MB"


@pytest.mark.parametrize("model_path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_card_describes_ferplus(model_path):
    with backend_from_path(model_path, threads=1) as backend:
        card = backend.card
    assert card is not None, f"{model_path.name} carries no fer_edge card"
    assert tuple(card.labels) == FERPLUS_LABELS
    fitted_on_val = "val" in card.metrics.get("fitted_on", ())  # TrainConfig.fit_val: val was trained on
    required = ("ferplus_test_accuracy", "ferplus_test_macro_f1") + (
        ("ferplus_test_accuracy_unseen",) if fitted_on_val else ("ferplus_val_accuracy",))
    for key in required:
        assert key in card.metrics, f"{model_path.name}: card metrics lack {key}"
    if fitted_on_val:
        assert not any(k.startswith("ferplus_val_") for k in card.metrics), "a val score of a model fitted on val"
    assert 0.0 < card.metrics["ferplus_test_accuracy"] <= 1.0


@pytest.mark.data
@pytest.mark.parametrize("model_path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_model_matches_card_accuracy(model_path, shared_data):
    pred, labels = _test_predictions(model_path, shared_data)
    assert len(labels) == 3152, "FER+ test split changed: expected 3,152 majority-labelled images"
    accuracy = float(np.mean(pred == labels))
    with backend_from_path(model_path, threads=1) as backend:
        claimed = float(backend.card.metrics["ferplus_test_accuracy"])
    assert abs(accuracy - claimed) <= 0.002, (
        f"{model_path.name}: measured FER+ test accuracy {accuracy:.4f} differs from its card's {claimed:.4f}"
    )


@pytest.mark.data
@pytest.mark.parametrize("model_path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_model_recalls_every_common_class(model_path, shared_data):
    """A robot user must see anger, fear and sadness recognised, not only smiles: recall >= 50 % per class."""
    pred, labels = _test_predictions(model_path, shared_data)
    recall = {name: float(np.mean(pred[labels == k] == k)) for k, name in enumerate(FERPLUS_LABELS)}
    low = {name for name, r in recall.items() if r < RECALL_FLOOR and name not in RECALL_FLOOR_EXEMPT}
    with backend_from_path(model_path, threads=1) as backend:
        version = backend.card.version
    if low and low == KNOWN_SHORTFALLS.get(version):
        pytest.xfail(f"release {version} known shortfall: " + ", ".join(f"{n} {recall[n]:.3f}" for n in sorted(low)))
    assert not low, f"{model_path.name}: recall below {RECALL_FLOOR:.0%}: " + ", ".join(
        f"{n} {recall[n]:.3f}" for n in sorted(low))
