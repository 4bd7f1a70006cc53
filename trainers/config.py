"""TrainConfig: every setting of a training run in one frozen dataclass, loadable from YAML/JSON.

The same object is written into each checkpoint (and its hash into the model card), so a run can be repeated
or resumed from the checkpoint alone. Unknown keys are errors, never silently ignored.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import hashlib
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from fer_edge.datasets import dataset_names
from fer_edge.errors import InvalidInputError

OPTIMIZERS = ("sgd", "adamw", "adam", "ranger")
SCHEDULES = ("cosine", "step", "constant")
TARGETS = ("soft", "hard")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SELECT_METRICS = ("accuracy", "macro_f1")
DATASETS = ("auto",) + dataset_names()  # the built-in readers (fer_edge.datasets.registry; validation asks it anew)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (see docs/training.md for a worked example).

    Data:
        data: dataset path (file or folder). dataset: reader name or "auto" (guessed from the path).
        targets: "soft" (vote distributions where the dataset has them, else one-hot) or "hard" (majority).
        val_fraction: share of train held out for validation when the dataset has no val split.
        fit_val: after a recipe was chosen on val, fit the final model on train + val: val joins the training
            rows (without a val split, nothing is held out), nothing is validated, and every epoch's checkpoint
            is the best — the last epoch is the model. A stored ``teacher`` must then hold val targets too
            (``fer-edge teacher --splits train val``).
        ferplus_csv: FER2013 ``fer2013.csv`` that a ``fer2013new.csv`` (FER+ votes) refers to.
        labels: "" = the dataset's own labels; for an .npz, a stored alternative label set (``"fer2013"`` reads
            ``fer2013_y_*`` / ``fer2013_class_names`` of ``ferplus.npz``).
        affectnet_classes: 8 (with contempt) or 7 AffectNet classes.
        limit_per_split: keep only the first N images of each split (smoke tests); 0 = all.
        per_class_limit: train on a class-balanced subset of at most N images per class, drawn with ``seed``
            (ESR trains each new branch on a fresh one); 0 = all.
    Model card / preprocessing: input_size, color, mean, std, crop_margin, name, version.
    Model: arch (registry name), model_kwargs, num_classes (0 = from the dataset; else must match),
        imports (modules imported before building the model, e.g. to register your own architectures),
        init_from (a checkpoint whose weights start the model — its EMA weights when it has them; parameters
        the checkpoint lacks, such as a new ESR branch, keep their fresh initialisation; an FP32 ``.onnx``
        export of a plain EdgeNet also works, for when only the released model survives; a dlib ``.dat`` starts
        ``arch: dlib_resnet`` from dlib's face-recognition weights).
    Distillation: teacher (a ``fer-edge teacher`` file of soft targets for the train split, and val), teacher_weight
        (share of the teacher in the blended target; needs targets: soft); or teacher_models (checkpoints or
        exported models run on every augmented batch — "consistent teaching": the target matches the image
        the student sees, at the teachers' inference cost per step).
    Loss and sampling: loss, loss_kwargs (passed to ``fer_edge.trainers.losses``), label_smoothing,
        sampler ("shuffle" or a name from ``fer_edge.trainers.samplers``), sampler_kwargs.
    Optimisation: optimizer, lr, lr_mult ({parameter-name prefix: LR multiplier}, longest prefix wins, e.g.
        ``{"": 0.1, "branches.3": 1.0}``), momentum, nesterov, betas, weight_decay, decay_norm_bias, batch_size (global,
        across all processes), eval_batch_size, epochs, schedule, warmup_epochs, warmup_start (LR factor at
        step 0), min_lr (as a fraction of lr), step_epochs/gamma (step schedule), grad_clip (0 = off),
        ema/ema_decay, swa_start (stochastic weight averaging: from the end of this epoch (1-based) on, the
        weights at each epoch's end join a plain mean, whose BatchNorm statistics are measured again on the train
        images; that mean is what is validated and saved as the model; 0 = off; pair it with schedule: constant
        or a fine-tune's low LR), grad_centralization (subtract each conv/linear weight gradient's mean over all
        axes but the output channel before the step; any optimizer), lookahead_k / lookahead_alpha (Ranger's
        Lookahead period and step size).
    Augmentation (batched in torch): hflip (probability), rotate (degrees), scale (fraction),
        translate (fraction of the side), brightness, contrast (jitter amplitudes), gamma_jitter (lighting: pixels
        raised to exp(U(-g, g))), blur (probability) with blur_sigma (the largest Gaussian sigma, pixels of the
        network input), erasing (probability), erasing_area (min, max share of the image); mixup / cutmix (Beta
        alphas, 0 = off; they blend the targets too, so they need targets: soft) on a share mix_prob of the batches.
    Runtime: device ("auto", "cpu", "cuda", "cuda:1"), precision ("auto" = bf16 autocast on a CPU with BF16,
        fp16 AMP on CUDA), channels_last (NHWC memory format: ~20 % faster convolutions on CPU), sync_bn
        (BatchNorm statistics over all GPUs of a torchrun job; CUDA only),
        threads (0 = torch default), seed, deterministic, output_dir, early_stop (patience in
        epochs, 0 = off), select_metric, progress, max_steps_per_epoch (0 = all; for smoke tests).
    """

    # data
    data: str = ""
    dataset: str = "auto"
    targets: str = "soft"
    val_fraction: float = 0.1
    fit_val: bool = False
    ferplus_csv: str = ""
    labels: str = ""
    affectnet_classes: int = 8
    limit_per_split: int = 0
    per_class_limit: int = 0
    # model card / preprocessing
    input_size: Tuple[int, int] = (48, 48)
    color: str = "gray"
    mean: Tuple[float, ...] = (0.5,)
    std: Tuple[float, ...] = (0.5,)
    crop_margin: float = 1.0
    name: str = "fer_model"
    version: str = "0"
    # model
    arch: str = "edgenet_tiny"
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int = 0
    imports: Tuple[str, ...] = ()
    init_from: str = ""
    # distillation
    teacher: str = ""
    teacher_models: Tuple[str, ...] = ()
    teacher_weight: float = 0.5
    # loss / sampling
    loss: str = "ce"
    loss_kwargs: Mapping[str, Any] = field(default_factory=dict)
    label_smoothing: float = 0.0
    sampler: str = "shuffle"
    sampler_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # optimisation
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 5e-4
    lr_mult: Mapping[str, float] = field(default_factory=dict)
    decay_norm_bias: bool = False
    batch_size: int = 128
    eval_batch_size: int = 512
    epochs: int = 25
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    warmup_start: float = 0.01
    min_lr: float = 0.0
    step_epochs: int = 10
    gamma: float = 0.1
    grad_clip: float = 0.0
    ema: bool = False
    ema_decay: float = 0.999
    swa_start: int = 0
    grad_centralization: bool = False
    lookahead_k: int = 6
    lookahead_alpha: float = 0.5
    # augmentation
    hflip: float = 0.5
    rotate: float = 10.0
    scale: float = 0.1
    translate: float = 0.08
    brightness: float = 0.0
    contrast: float = 0.0
    gamma_jitter: float = 0.0
    blur: float = 0.0
    blur_sigma: float = 1.0
    erasing: float = 0.25
    erasing_area: Tuple[float, float] = (0.02, 0.2)
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0
    # runtime
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    sync_bn: bool = False
    threads: int = 0
    seed: int = 0
    deterministic: bool = False
    output_dir: str = "runs/train"
    early_stop: int = 0
    select_metric: str = "accuracy"
    progress: bool = True
    max_steps_per_epoch: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, getattr(self, f.name), _field_types()[f.name]))
        self.validate()

    # -------------------------------------------------------------- validation
    def validate(self) -> None:
        """Raise InvalidInputError naming the bad setting."""

        def bad(key: str, msg: str) -> InvalidInputError:
            return InvalidInputError(f"TrainConfig.{key}: {msg}")

        choices = {
            "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "targets": TARGETS, "precision": PRECISIONS,
            "select_metric": SELECT_METRICS, "dataset": ("auto",) + dataset_names(),  # readers registered later too
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise bad(key, f"must be one of {allowed}, got {getattr(self, key)!r}")
        positive = ("lr", "batch_size", "eval_batch_size", "epochs", "step_epochs")
        for key in positive:
            if not getattr(self, key) > 0:
                raise bad(key, f"must be > 0, got {getattr(self, key)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise bad("val_fraction", f"must be in [0, 1), got {self.val_fraction}")
        for key in ("hflip", "erasing", "blur", "mix_prob"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, f"is a probability in [0, 1], got {getattr(self, key)}")
        if not 0.0 < self.ema_decay < 1.0:
            raise bad("ema_decay", f"must be in (0, 1), got {self.ema_decay}")
        if not 0 <= self.swa_start <= self.epochs:
            raise bad("swa_start", f"is the first averaged epoch, in 1..epochs ({self.epochs}) or 0 = off; got "
                                   f"{self.swa_start}")
        if self.num_classes < 0:
            raise bad("num_classes", "must be 0 (from the dataset) or the dataset's number of classes")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise bad("teacher_weight", f"is a share in [0, 1], got {self.teacher_weight}")
        if (self.teacher or self.teacher_models) and self.targets != "soft":
            raise bad("teacher", "distillation blends soft targets; set targets: soft")
        if self.fit_val and self.early_stop:
            raise bad("early_stop", "fit_val holds nothing out to stop on; set early_stop: 0 (the epochs are fixed)")
        if self.teacher and self.teacher_models:
            raise bad("teacher_models", "set either teacher (stored targets) or teacher_models (run per batch)")
        for key in ("gamma_jitter", "mixup", "cutmix"):
            if getattr(self, key) < 0:
                raise bad(key, f"must be >= 0 (0 = off), got {getattr(self, key)}")
        if not 0.2 < self.blur_sigma <= 5.0:
            raise bad("blur_sigma", f"is the largest blur sigma in pixels, in (0.2, 5], got {self.blur_sigma}")
        if (self.mixup > 0 or self.cutmix > 0) and self.targets != "soft":
            raise bad("mixup" if self.mixup > 0 else "cutmix", "blends target distributions; set targets: soft")
        if self.affectnet_classes not in (7, 8):
            raise bad("affectnet_classes", f"must be 7 or 8, got {self.affectnet_classes}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise bad("label_smoothing", f"must be in [0, 1), got {self.label_smoothing}")
        lo, hi = self.erasing_area
        if not 0.0 < lo <= hi < 1.0:
            raise bad("erasing_area", f"needs 0 < min <= max < 1, got {self.erasing_area}")
        if self.lookahead_k < 1:
            raise bad("lookahead_k", f"must be >= 1 step, got {self.lookahead_k}")
        if not 0.0 < self.lookahead_alpha <= 1.0:
            raise bad("lookahead_alpha", f"must be in (0, 1], got {self.lookahead_alpha}")
        if self.per_class_limit < 0:
            raise bad("per_class_limit", f"must be 0 (all) or a positive number of images, got {self.per_class_limit}")
        for prefix, mult in dict(self.lr_mult).items():
            if not isinstance(prefix, str) or not isinstance(mult, (int, float)) or mult < 0:
                raise bad("lr_mult", f"maps parameter-name prefixes to multipliers >= 0, got {prefix!r}: {mult!r}")

    # ------------------------------------------------------------- round trip
    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else (dict(v) if isinstance(v, Mapping) else v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config") -> "TrainConfig":
        """Build from a mapping; unknown keys raise InvalidInputError naming them and the source."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{source}: a training config must be a mapping of settings, "
                                    f"got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(
                f"{source}: unknown setting(s) {unknown}; see `fer-edge train --help` or docs/training.md "
                f"for the valid keys"
            )
        return cls(**dict(data))

    @classmethod
    def from_file(cls, path) -> "TrainConfig":
        """Load a ``.yaml``/``.yml``/``.json`` file; its relative input paths (``FILE_RELATIVE_KEYS``) are
        relative to the file's folder, so a config works from any current directory."""
        data = dict(load_mapping(path))
        folder = Path(path).parent
        def resolve(value):
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                return os.path.normpath(folder / value)
            return value

        for key in set(FILE_RELATIVE_KEYS) & set(data):
            value = data[key]
            data[key] = [resolve(v) for v in value] if isinstance(value, (list, tuple)) else resolve(value)
        return cls.from_dict(data, source=str(path))

    def with_absolute_paths(self) -> "TrainConfig":
        """A copy whose input paths are absolute: what a run folder's ``config.yaml`` records, so loading it
        from there (paths relative to the file) still finds the data."""
        def absolute(value):
            return tuple(map(os.path.abspath, value)) if isinstance(value, tuple) else os.path.abspath(value)

        return dataclasses.replace(self, **{k: absolute(getattr(self, k)) for k in FILE_RELATIVE_KEYS
                                            if getattr(self, k)})

    def with_overrides(self, overrides: Iterable[str] = (), **changes: Any) -> "TrainConfig":
        """A copy with ``key=value`` strings (values parsed as YAML) and keyword changes applied."""
        data = self.to_dict()
        known = set(data)
        for item in overrides:
            if "=" not in item:
                raise InvalidInputError(f"override {item!r} must look like key=value (e.g. lr=0.05)")
            key, _, text = item.partition("=")
            key = key.strip().replace("-", "_")
            if key not in known:
                raise InvalidInputError(f"override {item!r}: unknown setting {key!r}")
            data[key] = _parse_value(text) if text.strip() else _empty_value(key, item)
        for key, value in changes.items():
            if value is None:
                continue
            if key not in known:
                raise InvalidInputError(f"unknown setting {key!r}")
            data[key] = value
        return TrainConfig.from_dict(data, source="overrides")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def sha256(self) -> str:
        """Hash of the settings that define the result (not output_dir/progress/threads)."""
        data = {k: v for k, v in self.to_dict().items() if k not in _NON_RESULT_KEYS}
        for key in ("labels", "sync_bn", "init_from", "lr_mult", "per_class_limit", "teacher",
                    "teacher_models", "swa_start", "fit_val"):  # added later:
            # their defaults leave older runs' hashes unchanged
            if not data[key]:
                del data[key]
        for key, default in _ADDED_DEFAULTS.items():  # likewise for keys whose default is not falsy
            if data.get(key) == default:
                del data[key]
        if "teacher" not in data and "teacher_models" not in data:
            del data["teacher_weight"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


# Paths in a config file that name inputs: resolved against the file's folder (output_dir stays relative to the
# current directory, where `fer-edge train` writes its runs).
FILE_RELATIVE_KEYS = ("data", "ferplus_csv", "init_from", "teacher", "teacher_models")
_NON_RESULT_KEYS = ("output_dir", "progress", "threads", "device")
# Settings added after runs were recorded: left out of the hash while at their default.
_ADDED_DEFAULTS = {"grad_centralization": False, "lookahead_k": 6, "lookahead_alpha": 0.5, "gamma_jitter": 0.0,
                   "blur": 0.0, "blur_sigma": 1.0, "mixup": 0.0, "cutmix": 0.0, "mix_prob": 1.0}


def load_mapping(path) -> Dict[str, Any]:
    """Read a YAML or JSON file into a dict, with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / JSONDecodeError
        raise InvalidInputError(f"{path}: cannot parse config: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: top level must be a mapping of settings, got {type(data).__name__}")
    return data


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except Exception:
        return text


def _empty_value(key: str, item: str) -> Any:
    """``--set teacher=`` clears a text, list or mapping setting (YAML would read the empty text as null)."""
    tp = _field_types()[key]
    if tp is str:
        return ""
    if typing.get_origin(tp) is tuple and typing.get_args(tp)[-1] is Ellipsis:
        return ()
    if typing.get_origin(tp) in (dict, collections.abc.Mapping):
        return {}
    raise InvalidInputError(f"override {item!r} has no value; {key} cannot be empty")


_TYPES: Optional[Dict[str, Any]] = None


def _field_types() -> Dict[str, Any]:
    global _TYPES
    if _TYPES is None:
        _TYPES = typing.get_type_hints(TrainConfig)
    return _TYPES


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Convert YAML/CLI values to the declared field type, or raise naming the key."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise TypeError(f"expected true/false, got {value!r}")
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError(f"expected an integer, got {value!r}")
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise TypeError(f"expected a number, got {value!r}")
            return float(value)
        if tp is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError(f"expected a string, got {value!r}")
            return str(value)
        if origin is tuple:
            args = typing.get_args(tp)
            if isinstance(value, (str, int, float)):
                value = [value]
            value = list(value)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_coerce(key, v, args[0]) for v in value)
            if len(value) != len(args):
                raise TypeError(f"expected {len(args)} values, got {len(value)}")
            return tuple(_coerce(key, v, a) for v, a in zip(value, args))
        if origin in (collections.abc.Mapping, dict, Mapping):
            if value is None:
                return {}
            if not isinstance(value, Mapping):
                raise TypeError(f"expected a mapping, got {value!r}")
            return dict(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"TrainConfig.{key}: {exc}") from exc
    return value
