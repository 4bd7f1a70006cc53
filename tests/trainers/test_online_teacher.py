"""Consistent teaching: teachers scored on each augmented batch (TrainConfig.teacher_models)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.config import TrainConfig  # noqa: E402
from fer_edge.trainers.online_teacher import OnlineTeacher  # noqa: E402
from fer_edge.trainers.teacher import save_teacher  # noqa: E402
from fer_edge.trainers.train import train  # noqa: E402
from test_train_e2e import LABELS, tiny_config  # noqa: E402

from fer_edge.card import ModelCard  # noqa: E402
from fer_edge.datasets import load_dataset  # noqa: E402
from fer_edge.errors import InvalidInputError  # noqa: E402
from fer_edge.recognizer import softmax  # noqa: E402

pytestmark = pytest.mark.torch
CARD = ModelCard(labels=tuple(LABELS), input_size=(16, 16), name="tiny")


def _tiny_onnx(tmp_path, card=CARD):
    pytest.importorskip("onnx")
    from fakes.tiny_models import write_tiny_classifier

    return write_tiny_classifier(tmp_path / "t.onnx", card=card, classes=len(card.labels), size=card.input_size[0])


def test_targets_are_the_teachers_view_of_the_batch_it_is_given(tmp_path):
    """The target follows the augmented image: a brighter batch gets the tiny model's "bright" class."""
    model = _tiny_onnx(tmp_path)
    soft = torch.full((2, 4), 0.25)
    x = torch.stack([torch.full((1, 16, 16), 0.8), torch.full((1, 16, 16), -0.8)])
    with OnlineTeacher([model, model], CARD, threads=1) as teacher:
        p = teacher.blend(x, soft, 1.0)
        half = teacher.blend(x, soft, 0.5)
    # write_tiny_classifier: logits = 4 * mean for class 1, -4 * mean for class 2, 0 otherwise.
    expected = softmax(np.array([[0, 3.2, -3.2, 0], [0, -3.2, 3.2, 0]], np.float64)).astype(np.float32)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(half.numpy(), 0.5 * expected + 0.125, rtol=1e-4, atol=1e-6)
    assert p[0].argmax() == 1 and p[1].argmax() == 2


def test_a_teacher_must_read_the_students_input(tmp_path):
    model = _tiny_onnx(tmp_path)
    with pytest.raises(InvalidInputError, match="input"):
        OnlineTeacher([model], ModelCard(labels=tuple(LABELS), input_size=(24, 24), name="s"))
    with pytest.raises(InvalidInputError, match="label order"):
        OnlineTeacher([model], ModelCard(labels=tuple(reversed(LABELS)), input_size=(16, 16), name="s"))
    with pytest.raises(InvalidInputError, match="not found"):
        OnlineTeacher([tmp_path / "missing.ckpt"], CARD)
    with pytest.raises(InvalidInputError, match="either teacher"):
        TrainConfig(teacher="t.npz", teacher_models=("m.ckpt",))
    with pytest.raises(InvalidInputError, match="targets: soft"):
        TrainConfig(teacher_models=("m.ckpt",), targets="hard")


def test_student_follows_an_online_teacher_checkpoint(tmp_path):
    """A teacher checkpoint that learned "next class" passes it on when it scores the student's batches."""
    cfg = tiny_config(tmp_path, targets="soft", epochs=6)
    data = load_dataset(cfg.data)
    y = data.splits["train"].labels
    shifted = np.eye(len(LABELS))[(y + 1) % len(LABELS)].astype(np.float32)
    stored = save_teacher({"probs": {"train": shifted}, "hard": {"train": y}, "labels": list(data.labels), "meta": {}},
                          tmp_path / "s.npz")
    teacher = train(cfg.replace(teacher=str(stored), teacher_weight=1.0, output_dir=str(tmp_path / "t")))
    assert teacher["history"][-1]["val_accuracy"] < 0.1  # its last weights predict the next class
    student = train(cfg.replace(teacher_models=(teacher["last_checkpoint"],), teacher_weight=1.0,
                                output_dir=str(tmp_path / "s")), command="pytest")
    assert student["history"][-1]["val_accuracy"] < 0.1  # measured against the true labels
    plain = train(cfg.replace(output_dir=str(tmp_path / "plain")))
    assert plain["history"][-1]["val_accuracy"] > 0.9
    recorded = TrainConfig.from_file(Path(tmp_path / "s" / "config.yaml"))
    assert recorded.teacher_models == (teacher["last_checkpoint"],)


def test_teacher_model_paths_in_a_config_file_are_relative_to_it(tmp_path):
    (tmp_path / "c.yaml").write_text("data: d.npz\nteacher_models: [a.ckpt, /abs/b.onnx]\n")
    cfg = TrainConfig.from_file(tmp_path / "c.yaml")
    assert cfg.teacher_models == (str(tmp_path / "a.ckpt"), "/abs/b.onnx")


def test_the_teachers_are_closed_when_training_raises(tmp_path, monkeypatch):
    import fer_edge.trainers.train as train_module

    model = _tiny_onnx(tmp_path)
    closed = []
    real_close = OnlineTeacher.close
    monkeypatch.setattr(OnlineTeacher, "close", lambda self: (closed.append(True), real_close(self)))

    def fail(*_args, **_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(train_module, "train_one_epoch", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        train(tiny_config(tmp_path, targets="soft", teacher_models=(str(model),), epochs=1))
    assert closed == [True]
