"""ESR branch-at-a-time growth and the settings it is built from: init_from, lr_mult, per_class_limit."""

import json

import pytest

torch = pytest.importorskip("torch")

from fer_edge.trainers.checkpoint import load_checkpoint  # noqa: E402
from fer_edge.trainers.esr_growth import GrowthConfig, grow_esr, stage_config  # noqa: E402
from fer_edge.trainers.models import create_model  # noqa: E402
from fer_edge.trainers.train import (  # noqa: E402
    _param_groups,
    limit_per_class,
    load_initial_weights,
    lr_multiplier,
)
from test_train_e2e import tiny_config  # noqa: E402

from fer_edge.errors import InvalidInputError  # noqa: E402

pytestmark = pytest.mark.torch


def test_lr_multiplier_takes_the_longest_prefix_at_a_dot_boundary():
    mult = {"": 0.1, "branches.1": 1.0, "branches.1.fc": 0.5}
    assert lr_multiplier("base.0.conv.weight", mult) == 0.1
    assert lr_multiplier("branches.1.conv.weight", mult) == 1.0
    assert lr_multiplier("branches.1.fc.bias", mult) == 0.5
    assert lr_multiplier("branches.10.conv.weight", mult) == 0.1  # not a prefix of "branches.1"
    assert lr_multiplier("anything", {}) == 1.0


def test_param_groups_carry_the_multiplied_lr_and_cover_every_parameter(tmp_path):
    cfg = tiny_config(tmp_path, lr=0.2, weight_decay=1e-3, lr_mult={"": 0.0, "classifier": 1.0})
    model = create_model("edgenet_tiny", 4, 1)
    groups = _param_groups(model, cfg)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    by_id = {id(p): g for g in groups for p in g["params"]}
    assert by_id[id(model.classifier.weight)]["lr"] == pytest.approx(0.2)
    assert by_id[id(model.classifier.weight)]["weight_decay"] == pytest.approx(1e-3)
    assert by_id[id(model.classifier.bias)]["weight_decay"] == 0.0
    first_conv = next(model.features.parameters())
    assert by_id[id(first_conv)]["lr"] == 0.0


def test_limit_per_class_is_balanced_and_repeatable():
    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 20)
    keep = limit_per_class(labels, 10, seed=3)
    assert torch.bincount(labels[keep]).tolist() == [10, 5, 10]
    assert torch.equal(keep, limit_per_class(labels, 10, seed=3))
    assert not torch.equal(keep, limit_per_class(labels, 10, seed=4))


def test_init_from_refuses_a_checkpoint_of_another_shape(tmp_path):
    from fer_edge.trainers.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "a.ckpt", {"state_dict": create_model("edgenet_tiny", 4, 1).state_dict()})
    with pytest.raises(InvalidInputError, match="does not fit this model"):
        load_initial_weights(create_model("edgenet_tiny", 5, 1), tmp_path / "a.ckpt")
    missing, unexpected = load_initial_weights(create_model("edgenet_tiny", 4, 1), tmp_path / "a.ckpt")
    assert missing == [] and unexpected == []


def test_stage_configs():
    with pytest.raises(InvalidInputError, match="ESR model"):
        stage_config(_cfg("edgenet_tiny"), GrowthConfig(), 1, None)
    s3 = stage_config(_cfg("esr"), GrowthConfig(branch_epochs=7, old_lr_mult=0.2), 3, "prev/best.ckpt")
    assert s3.model_kwargs["num_branches"] == 3 and s3.epochs == 7 and s3.init_from == "prev/best.ckpt"
    assert dict(s3.lr_mult) == {"": 0.2, "branches.2": 1.0} and s3.output_dir.endswith("branches_3")


def _cfg(arch):
    from fer_edge.trainers.config import TrainConfig

    return TrainConfig(arch=arch, output_dir="out", epochs=5)


def test_growth_trains_one_new_branch_per_stage_and_resumes(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, arch="esr", model_kwargs={"num_branches": 1}, epochs=1, max_steps_per_epoch=2,
                      per_class_limit=12, batch_size=16)
    result = grow_esr(cfg, GrowthConfig(branches=3, branch_epochs=1, old_lr_mult=0.0))
    assert [s["branches"] for s in result["stages"]] == [1, 2, 3]
    assert json.loads((tmp_path / "run" / "growth.json").read_text())["best"] == result["best"]
    one = load_checkpoint(tmp_path / "run" / "branches_1" / "best.ckpt")["state_dict"]
    two = load_checkpoint(tmp_path / "run" / "branches_2" / "last.ckpt")["state_dict"]
    params = dict(create_model("esr", 4, 1, num_branches=2).named_parameters())
    # old_lr_mult=0: the base and branch 0 keep stage 1's weights exactly; branch 1 is new and learned
    for name in params:
        if name.startswith(("base.", "branches.0.")):
            assert torch.equal(two[name], one[name]), name
    assert "branches.1.fc.weight" not in one
    torch.manual_seed(cfg.seed + 1)  # stage 2's seed: the new branch's fresh initialisation
    fresh = create_model("esr", 4, 1, num_branches=2).state_dict()
    assert not torch.equal(two["branches.1.fc.weight"], fresh["branches.1.fc.weight"])  # it learned

    def no_training(*a, **kw):
        raise AssertionError("a finished stage was trained again")

    monkeypatch.setattr("fer_edge.trainers.train.train", no_training)
    assert grow_esr(cfg, GrowthConfig(branches=3, branch_epochs=1, old_lr_mult=0.0))["best"] == result["best"]


def test_cli_growth_resumes_by_itself(tmp_path, capsys):
    from fer_edge.cli import main

    rc = main(["train", "--arch", "esr", "--grow-esr", "2", "--resume", "--output", str(tmp_path / "g")])
    assert rc == 1 and "drop --resume" in capsys.readouterr().err


def test_a_checkpoint_without_weights_is_a_typed_error(tmp_path):
    from fer_edge.trainers.checkpoint import model_from_checkpoint, save_checkpoint

    from fer_edge.errors import ModelFormatError

    save_checkpoint(tmp_path / "empty.ckpt", {"arch": "edgenet_tiny", "num_classes": 4, "in_chans": 1})
    with pytest.raises(ModelFormatError, match="holds no model weights"):
        model_from_checkpoint(tmp_path / "empty.ckpt")
    with pytest.raises(InvalidInputError, match="holds no model weights"):
        load_initial_weights(create_model("edgenet_tiny", 4, 1), tmp_path / "empty.ckpt")
