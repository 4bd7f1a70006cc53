"""TrainConfig: YAML/JSON loading, overrides, unknown keys and bad values named, CLI flags, shipped configs parse."""

import json
from pathlib import Path

import pytest
from fer_edge.trainers.config import TrainConfig

from fer_edge.errors import InvalidInputError

REPO = Path(__file__).resolve().parents[2]


def test_yaml_and_json_round_trip(tmp_path):
    cfg = TrainConfig(data=str(tmp_path / "x.npz"), lr=0.05, input_size=(64, 64), model_kwargs={"dropout": 0.2},
                      ema=True)
    (tmp_path / "c.yaml").write_text(cfg.to_yaml())
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_file(tmp_path / "c.yaml") == cfg
    assert TrainConfig.from_file(tmp_path / "c.json") == cfg
    assert cfg.sha256() == TrainConfig.from_file(tmp_path / "c.yaml").sha256()
    assert cfg.sha256() == cfg.replace(output_dir="elsewhere", threads=7).sha256()
    assert cfg.sha256() != cfg.replace(lr=0.1).sha256()


def test_relative_input_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "c.yaml").write_text("data: ../data/ferplus.npz\noutput_dir: runs/x\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = TrainConfig.from_file(tmp_path / "configs" / "c.yaml")
    assert Path(cfg.data) == tmp_path / "data" / "ferplus.npz"
    assert cfg.output_dir == "runs/x"  # outputs stay relative to where `fer-edge train` runs
    assert cfg.with_overrides(["data=here.npz"]).data == "here.npz"  # command-line paths: the current directory
    saved = cfg.replace(data="rel.npz").with_absolute_paths()
    assert Path(saved.data) == elsewhere / "rel.npz"


def test_shipped_configs_point_at_the_archive_fer_edge_data_builds():
    cfg = TrainConfig.from_file(REPO / "configs" / "ferplus_default.yaml")
    assert Path(cfg.data) == REPO / "data" / "ferplus.npz"


def test_unknown_key_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 0.1\nlearning_rate: 0.2\n")
    with pytest.raises(InvalidInputError, match=r"c.yaml: unknown setting\(s\) \['learning_rate'\]"):
        TrainConfig.from_file(tmp_path / "c.yaml")
    with pytest.raises(InvalidInputError, match="unknown setting 'lrr'"):
        TrainConfig().with_overrides(["lrr=1"])


def test_overrides_are_parsed_and_validated():
    cfg = TrainConfig().with_overrides(["lr=0.01", "input_size=[64, 64]", "ema=true", "imports=[mymod]",
                                        "model_kwargs={dropout: 0.5}"], epochs=3)
    assert cfg.lr == 0.01 and cfg.input_size == (64, 64) and cfg.ema is True and cfg.epochs == 3
    assert cfg.imports == ("mymod",) and cfg.model_kwargs == {"dropout": 0.5}
    with pytest.raises(InvalidInputError, match="TrainConfig.optimizer"):
        TrainConfig().with_overrides(["optimizer=lion"])
    with pytest.raises(InvalidInputError, match="TrainConfig.epochs: expected an integer"):
        TrainConfig().with_overrides(["epochs=2.5"])
    with pytest.raises(InvalidInputError, match="key=value"):
        TrainConfig().with_overrides(["lr"])
    with pytest.raises(InvalidInputError, match="TrainConfig.hflip"):
        TrainConfig(hflip=1.5)


def test_missing_config_file(tmp_path):
    with pytest.raises(InvalidInputError, match="config file not found"):
        TrainConfig.from_file(tmp_path / "none.yaml")


def test_cli_print_config(tmp_path, capsys):
    from fer_edge.cli import main

    (tmp_path / "c.yaml").write_text("lr: 0.3\nepochs: 2\n")
    rc = main(["train", "--config", str(tmp_path / "c.yaml"), "--set", "ema=true", "--epochs", "5", "--print-config"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "lr: 0.3" in out and "epochs: 5" in out and "ema: true" in out
    assert main(["train", "--set", "bogus=1", "--print-config"]) == 1
    assert "bogus" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_parse(path):
    TrainConfig.from_file(path)


def test_later_settings_change_the_hash_only_when_set():
    """Settings added later must, at their defaults, leave the hashes recorded by older runs unchanged."""
    import dataclasses
    import hashlib
    import json

    later = {"labels": "fer2013", "sync_bn": True, "init_from": "runs/a/best.ckpt", "lr_mult": {"": 0.1},
             "per_class_limit": 5000, "grad_centralization": True, "lookahead_k": 3, "lookahead_alpha": 0.8,
             "teacher": "teacher.npz", "teacher_models": ("t.ckpt",), "gamma_jitter": 0.2, "blur": 0.1,
             "blur_sigma": 1.5, "mixup": 0.2, "cutmix": 1.0, "mix_prob": 0.5, "swa_start": 5, "fit_val": True}
    cfg = TrainConfig(targets="soft")
    old = {k: v for k, v in cfg.to_dict().items()
           if k not in ("output_dir", "progress", "threads", "device", "teacher_weight", *later)}
    assert cfg.sha256() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()
    for key, value in later.items():
        assert dataclasses.replace(cfg, **{key: value}).sha256() != cfg.sha256(), key
    with_teacher = dataclasses.replace(cfg, teacher="teacher.npz")
    assert dataclasses.replace(with_teacher, teacher_weight=0.9).sha256() != with_teacher.sha256()


def test_an_empty_override_clears_text_list_and_mapping_settings():
    cfg = TrainConfig(teacher="t.npz", imports=("a",), lr_mult={"": 0.1})
    cleared = cfg.with_overrides(["teacher=", "imports=", "lr_mult="])
    assert (cleared.teacher, cleared.imports, dict(cleared.lr_mult)) == ("", (), {})
    with pytest.raises(InvalidInputError, match="lr cannot be empty"):
        cfg.with_overrides(["lr="])
