"""The training loop: ``train(TrainConfig)`` → best-on-val checkpoint with its ModelCard, resumable, DDP-aware.

Run it with ``fer-edge train --config cfg.yaml`` or, on several GPUs/processes,
``torchrun --nproc_per_node N -m fer_edge.trainers.train --config cfg.yaml``.
Every epoch is seeded from (seed, epoch), so ``--resume`` from ``last.ckpt`` reproduces the uninterrupted run.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_edge.card import ModelCard
from fer_edge.datasets import LabelledData, joined_splits, limit_splits, load_dataset, split_off_val
from fer_edge.errors import FerEdgeError, InvalidInputError, ModelFormatError

from . import distributed as D
from .batch_mix import MixConfig, mix_batch
from .checkpoint import checkpoint_weights, cpu_state_dict, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .evaluate import classification_metrics
from .optim import centralize_gradients
from .transforms import AugmentConfig, BatchAugment, TensorSplit, materialize
from .weight_average import ModelEMA, WeightAverage, recompute_batchnorm

logger = logging.getLogger(__name__)

BEST_NAME = "best.ckpt"
LAST_NAME = "last.ckpt"


# ------------------------------------------------------------------------------------------------ card / data
def card_from_config(cfg: TrainConfig, data: LabelledData, command: str = "") -> ModelCard:
    """The ModelCard a run writes: dataset label order, the config's input geometry and normalisation, provenance."""
    provenance = {k: v for k, v in data.source.items()}
    provenance.update({"command": command, "config_sha256": cfg.sha256(), "torch": str(torch.__version__)})
    try:
        return ModelCard(
            labels=data.labels, input_size=cfg.input_size, color=cfg.color, mean=cfg.mean, std=cfg.std,
            crop_margin=cfg.crop_margin, name=cfg.name, arch=cfg.arch, version=cfg.version, provenance=provenance,
        )
    except ModelFormatError as exc:
        raise InvalidInputError(f"TrainConfig (input_size/color/mean/std/crop_margin): {exc}") from exc


def _train_targets(split: TensorSplit, num_classes: int, mode: str):
    """Rows usable for training and their (hard, soft) targets; soft = vote distribution or one-hot."""
    labels = split.labels
    if mode == "soft" and split.soft is not None:
        soft = split.soft
        keep = soft.sum(1) > 0
        hard = torch.where(labels >= 0, labels, soft.argmax(1))
    else:
        keep = labels >= 0
        hard = labels.clamp(min=0)
        soft = None
    idx = torch.nonzero(keep).flatten()
    if len(idx) == 0:
        raise InvalidInputError("the training split has no labelled images")
    if soft is None:
        soft = F.one_hot(hard, num_classes).float()
    return idx, hard[idx], soft[idx]


# ----------------------------------------------------------------------------------------------- model pieces
def build_criterion(cfg: TrainConfig, num_classes: int, soft_targets: bool, class_counts=None,
                    feature_dim: Optional[int] = None, in_chans: int = 1) -> nn.Module:
    """The loss for ``cfg``: ``loss`` picks a preset (``losses/presets.py``), ``loss_kwargs`` sets any
    ``LossConfig`` field (``class_weights: auto`` = weights from the training class counts)."""
    from .losses import build_criterion as build
    from .losses.presets import loss_config

    lc = loss_config(cfg.loss, cfg.loss_kwargs, label_smoothing=cfg.label_smoothing, soft_targets=soft_targets,
                     class_counts=class_counts)
    return build(lc, num_classes, feature_dim=feature_dim, in_chans=in_chans)


def lr_multiplier(name: str, lr_mult: Dict[str, float]) -> float:
    """The multiplier of the longest prefix of ``name`` in ``lr_mult`` (at a dot boundary; "" matches all); 1.0."""
    best, mult = -1, 1.0
    for prefix, m in lr_mult.items():
        hit = prefix == "" or name == prefix or name.startswith(prefix + ".")
        if hit and len(prefix) > best:
            best, mult = len(prefix), float(m)
    return mult


def _param_groups(model: nn.Module, cfg: TrainConfig) -> List[dict]:
    """Optimizer groups by (weight decay, LR multiplier): norms and biases undecayed unless decay_norm_bias."""
    groups: Dict[Tuple[bool, float], List[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decayed = not (p.ndim <= 1 and not cfg.decay_norm_bias)
        groups.setdefault((decayed, lr_multiplier(name, dict(cfg.lr_mult))), []).append(p)
    return [{"params": ps, "weight_decay": cfg.weight_decay if decayed else 0.0, "lr": cfg.lr * mult}
            for (decayed, mult), ps in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))]


def limit_per_class(labels: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Sorted positions of a class-balanced subset: at most ``limit`` per class, drawn with ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    keep = []
    for c in torch.unique(labels).tolist():
        pos = torch.nonzero(labels == c).flatten()
        keep.append(pos[torch.randperm(len(pos), generator=g)[:limit]])
    return torch.sort(torch.cat(keep)).values


def load_initial_weights(model: nn.Module, path, sample: Optional[torch.Tensor] = None) -> Tuple[List[str], List[str]]:
    """Start ``model`` from a checkpoint's weights (EMA when saved), an FP32 ONNX export or a dlib ``.dat`` (for
    ``dlib_resnet``); returns (missing, unexpected) keys.

    Missing keys keep their fresh initialisation (e.g. the new branch of a growing ESR); a tensor whose shape
    differs is an error, since silently skipping it would train from a half-loaded model.
    """
    if str(path).lower().endswith(".onnx"):
        from .onnx_weights import state_dict_from_onnx

        source = state_dict_from_onnx(model, path, sample)
    elif str(path).lower().endswith((".dat", ".dat.bz2")):  # dlib's face ResNet (arch: dlib_resnet)
        from .dlib_format import read_dlib_network
        from .models.dlib_resnet import dlib_state_dict

        source = dlib_state_dict(model, read_dlib_network(path))
    else:
        source = checkpoint_weights(load_checkpoint(path))
    if not source:
        raise InvalidInputError(f"TrainConfig.init_from: {path} holds no model weights (state_dict)")
    own = model.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in source.items()
             if k in own and own[k].shape != v.shape]
    if wrong:
        raise InvalidInputError(f"TrainConfig.init_from: {path} does not fit this model: {wrong[:3]}; it needs the "
                                "same arch and model_kwargs (a growing ESR may add branches, not change them)")
    result = model.load_state_dict(source, strict=False)
    return list(result.missing_keys), list(result.unexpected_keys)


def build_optimizer(params: List[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "ranger":
        from .optim import Ranger

        return Ranger(params, lr=cfg.lr, betas=cfg.betas, k=cfg.lookahead_k, alpha=cfg.lookahead_alpha)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)


def lr_factor(step: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """LR multiplier at optimizer step ``step``: linear warm-up, then cosine / step / constant."""
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warm:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * step / warm
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch))
    total = max(cfg.epochs * steps_per_epoch - warm, 1)
    t = min((step - warm) / total, 1.0)
    return cfg.min_lr + (1.0 - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def _bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def resolve_precision(cfg: TrainConfig, device: torch.device) -> str:
    """"fp32", "bf16" or "fp16" for this device ("auto": bf16 on a CPU with BF16, fp16 AMP on CUDA)."""
    p = cfg.precision
    if p == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if _bf16_supported() else "fp32"
    if p == "fp16" and device.type != "cuda":
        raise InvalidInputError("TrainConfig.precision=fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    return p


def _keep_norm_fp32(model: nn.Module) -> list:
    """Under CPU bf16 autocast, feed normalisation layers fp32 (their statistics stay accurate)."""
    def hook(_mod, args):
        return tuple(a.float() if torch.is_tensor(a) else a for a in args)

    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
    return [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, norms)]


# ------------------------------------------------------------------------------------------------- the loop
@dataclass
class _State:
    epoch: int = 0  # epochs completed
    step: int = 0
    best: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0


def _epoch_batches(n: int, global_batch: int, epoch: int, cfg: TrainConfig, info: D.DistInfo, sampler=None):
    """Index batches of this rank for one epoch; a global permutation sliced per rank (same global batches at any
    world size, so DDP and a single process see identical data)."""
    per_rank = global_batch // info.world_size
    if sampler is not None:  # fer_edge.trainers.samplers: this rank's shard of one global order
        sampler.set_epoch(epoch)
        items = list(iter(sampler))
        if items and isinstance(items[0], (list, tuple, np.ndarray, torch.Tensor)):  # already batches
            return [torch.as_tensor(np.asarray(b), dtype=torch.long) for b in items]
        flat = torch.as_tensor(items, dtype=torch.long)
        steps = max(len(flat) // per_rank, 1)
        return [flat[s * per_rank:(s + 1) * per_rank] for s in range(steps)]
    g = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
    perm = torch.randperm(n, generator=g)
    steps = max(n // global_batch, 1)
    out = []
    for s in range(steps):
        gb = perm[s * global_batch:(s + 1) * global_batch]
        out.append(gb[info.rank * per_rank:(info.rank + 1) * per_rank] if info.enabled else gb)
    return out


def _build_sampler(cfg: TrainConfig, labels: torch.Tensor, info: D.DistInfo):
    if cfg.sampler in ("shuffle", "", "none"):
        return None
    from . import samplers

    try:
        return samplers.build_sampler(cfg.sampler, labels.numpy(), batch_size=cfg.batch_size // info.world_size,
                                      num_replicas=info.world_size, rank=info.rank, seed=cfg.seed,
                                      **dict(cfg.sampler_kwargs))
    except TypeError as exc:
        raise InvalidInputError(f"TrainConfig.sampler_kwargs: {exc}") from exc


def evaluate_split(model: nn.Module, split: TensorSplit, labels, batch_size: int, device) -> Dict[str, Any]:
    """Accuracy / macro-F1 / per-class recall on a split's majority-labelled images (and without leaks)."""
    from .evaluate import torch_logits

    logits = torch_logits(model, split.x, batch_size, device)
    pred = logits.argmax(1)
    y = split.labels.numpy()
    m = classification_metrics(y, pred, labels)
    out = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "per_class_recall": m["per_class_recall"],
           "n": m["n"]}
    if split.leak is not None:
        keep = ~split.leak.numpy()
        out["accuracy_without_leak"] = classification_metrics(y[keep], pred[keep], labels)["accuracy"]
    return out


def train(cfg: TrainConfig, *, resume: Optional[str] = None, command: str = "",
          stop_after: Optional[int] = None) -> Dict[str, Any]:
    """Train ``cfg.arch`` on ``cfg.data``; returns a summary (best metrics, checkpoint paths, seconds per epoch).

    Args:
        cfg: the run's settings.
        resume: path of a ``last.ckpt`` to continue (same config), or "auto" for ``output_dir/last.ckpt``.
        command: the command line, recorded in the card's provenance.
        stop_after: end this session after that many epochs (the run stays resumable, schedule unchanged).
    """
    device = D.local_device(cfg.device)
    info = D.init_distributed(device)
    try:
        summary = _train(cfg, device, info, resume, command, stop_after)
    except BaseException:
        D.cleanup(info, together=False)
        raise
    D.cleanup(info)
    return summary


@dataclass
class PreparedData:
    """Step 1 (``prepare_data``): the dataset read, split and preprocessed once, plus the card it was made for."""

    data: LabelledData
    card: ModelCard
    train: TensorSplit
    val: Optional[TensorSplit]
    idx: torch.Tensor  # rows of ``train`` that have a target
    hard: torch.Tensor  # (n,) int64 hard labels of those rows
    soft: torch.Tensor  # (n, K) float32 targets of those rows
    x: torch.Tensor  # (n, C, H, W) inputs of those rows

    @property
    def num_classes(self) -> int:
        return self.data.num_classes


@dataclass
class TrainingRun:
    """Step 2 (``build_run``): everything an epoch updates — model, loss, optimiser, schedule, EMA, precision."""

    model: nn.Module
    criterion: nn.Module
    loss_params: List[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    ema: Optional[ModelEMA]
    sampler: Any
    global_batch: int
    steps_per_epoch: int
    precision: str
    autocast_dtype: Optional[torch.dtype]
    memory_format: torch.memory_format
    augment: BatchAugment
    mix: MixConfig
    hooks: list
    teacher: Any = None  # OnlineTeacher when TrainConfig.teacher_models is set
    swa: Optional[WeightAverage] = None  # when TrainConfig.swa_start is set

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are validated and selected: the SWA mean once it holds one, else EMA, else raw."""
        if self.swa is not None and self.swa.count:
            return self.swa.module
        return self.ema.module if self.ema is not None else self.model


def _setup_process(cfg: TrainConfig, info: D.DistInfo) -> None:
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    for mod in cfg.imports:
        importlib.import_module(mod)
    if cfg.batch_size % info.world_size:
        raise InvalidInputError(f"TrainConfig.batch_size={cfg.batch_size} (global) must be divisible by the "
                                f"{info.world_size} processes")


def prepare_data(cfg: TrainConfig, info: D.DistInfo, command: str = "") -> PreparedData:
    """Read the dataset, blend teacher targets, hold out val, preprocess every image once, pick the usable rows."""
    log = logger.info if info.is_main else logger.debug
    t0 = time.perf_counter()
    data = load_dataset(cfg.data, cfg.dataset, fer2013_csv=cfg.ferplus_csv, affectnet_classes=cfg.affectnet_classes,
                        label_set=cfg.labels)
    if cfg.teacher:
        from .teacher import with_teacher

        needs = ("train", "val") if cfg.fit_val and "val" in data.splits else ("train",)
        data = with_teacher(data, cfg.teacher, cfg.teacher_weight, needs=needs)  # rows pair before any split
    data = _with_val_in_train(data) if cfg.fit_val else split_off_val(data, cfg.val_fraction, cfg.seed)
    data = limit_splits(data, cfg.limit_per_split)
    k = data.num_classes
    if cfg.num_classes and cfg.num_classes != k:
        raise InvalidInputError(f"TrainConfig.num_classes={cfg.num_classes} but {cfg.data} has {k} classes "
                                f"{list(data.labels)}; set num_classes: 0 to take it from the dataset")
    card = card_from_config(cfg, data, command)
    train_t = materialize(data.splits["train"], card, where=f"{cfg.data}:train",
                          progress=info.is_main and cfg.progress)
    val_t = materialize(data.splits["val"], card, where=f"{cfg.data}:val") if "val" in data.splits else None
    idx_all, hard_all, soft_all = _train_targets(train_t, k, cfg.targets)
    if cfg.per_class_limit:
        sub = limit_per_class(hard_all, cfg.per_class_limit, cfg.seed)
        idx_all, hard_all, soft_all = idx_all[sub], hard_all[sub], soft_all[sub]
    x_all = train_t.x if len(idx_all) == len(train_t) else train_t.x[idx_all]  # no copy when all are usable
    log("data: %s — %d train images (%d usable, %s targets), %d val, %d classes %s; prepared in %.1fs",
        cfg.data, len(train_t), len(idx_all), cfg.targets, 0 if val_t is None else len(val_t), k,
        list(data.labels), time.perf_counter() - t0)
    return PreparedData(data, card, train_t, val_t, idx_all, hard_all, soft_all, x_all)


def _with_val_in_train(data: LabelledData) -> LabelledData:
    """``fit_val``: the final model trains on train + val (or, without a val split, on all of train: nothing is
    held out), so nothing is left to validate on."""
    if "val" not in data.splits:
        return data
    splits = {k: v for k, v in data.splits.items() if k != "val"}
    splits["train"] = joined_splits(data.splits["train"], data.splits["val"])
    return replace(data, splits=splits)


def build_run(cfg: TrainConfig, prep: PreparedData, device, info: D.DistInfo, resume: Optional[str]) -> TrainingRun:
    """Model (optionally initialised from ``init_from``), loss, optimiser, LR schedule, EMA and precision."""
    log = logger.info if info.is_main else logger.debug
    k, card = prep.num_classes, prep.card
    torch.manual_seed(cfg.seed)
    from .models import create_model

    model = create_model(cfg.arch, k, card.channels, **dict(cfg.model_kwargs)).to(device)
    if cfg.init_from and not resume:
        missing, unexpected = load_initial_weights(model, cfg.init_from, sample=prep.x[:1024])
        log("weights from %s (%d tensors kept their fresh init, %d unused)", cfg.init_from, len(missing),
            len(unexpected))
    model = D.sync_batchnorm(model, info, device, cfg.sync_bn)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    soft = cfg.targets == "soft" and (prep.train.soft is not None or bool(cfg.teacher_models))
    criterion = build_criterion(cfg, k, soft_targets=soft,
                                class_counts=torch.bincount(prep.hard, minlength=k).tolist(),
                                feature_dim=getattr(model, "feature_dim", None), in_chans=card.channels).to(device)
    params = _param_groups(model, cfg) + list(criterion.parameter_groups(cfg.lr))
    loss_params = [p for p in criterion.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg)
    global_batch = min(cfg.batch_size, len(prep.idx) - len(prep.idx) % info.world_size)
    sampler = _build_sampler(cfg, prep.hard, info)
    steps_per_epoch = len(_epoch_batches(len(prep.idx), global_batch, 0, cfg, info, sampler))
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg, steps_per_epoch))
    ema = ModelEMA(model, cfg.ema_decay) if cfg.ema else None
    precision = resolve_precision(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    hooks = _keep_norm_fp32(model) if precision == "bf16" and device.type == "cpu" else []
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    augment = BatchAugment(AugmentConfig.from_train_config(cfg), card)
    teacher = None
    if cfg.teacher_models:
        from .online_teacher import OnlineTeacher

        teacher = OnlineTeacher(cfg.teacher_models, card, threads=cfg.threads or None)
    return TrainingRun(model, criterion, loss_params, optimizer, scheduler, scaler, ema, sampler, global_batch,
                       steps_per_epoch, precision, autocast_dtype, memory_format, augment,
                       MixConfig.from_train_config(cfg), hooks, teacher,
                       WeightAverage(model) if cfg.swa_start else None)


def resume_run(run: TrainingRun, cfg: TrainConfig, rpath: Path, info: D.DistInfo) -> Tuple[_State, List[dict]]:
    """Load a ``last.ckpt`` into ``run``; returns the loop state and the history so far."""
    log = logger.info if info.is_main else logger.debug
    ck = load_checkpoint(rpath)
    old = TrainConfig.from_dict(ck["config"], source=str(rpath))
    if old.sha256() != cfg.sha256():
        diff = sorted(k_ for k_, v in cfg.to_dict().items() if old.to_dict().get(k_, v) != v)
        logger.warning("resuming %s with changed settings %s; the result will differ from the original run",
                       rpath, diff)
    try:
        run.model.load_state_dict(ck["state_dict"])
        run.optimizer.load_state_dict(ck["optimizer"])
        run.scheduler.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            run.scaler.load_state_dict(ck["scaler"])
        ts = ck["train_state"]
        if run.ema is not None and ck.get("ema_state_dict"):
            run.ema.module.load_state_dict(ck["ema_state_dict"])
            run.ema.updates = int(ts.get("ema_updates", 0))
        if run.swa is not None:
            run.swa.load_state(ck.get("swa"))
        state = _State(ts["epoch"], ts["step"], ts["best"], ts["best_epoch"], ts["bad_epochs"])
    except (KeyError, RuntimeError, ValueError) as exc:
        detail = f"it lacks {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise InvalidInputError(f"cannot resume from {rpath}: {detail}; resume needs the last.ckpt of a run "
                                f"with the same arch, model_kwargs, loss and optimizer") from exc
    history = list(ts.get("history", []))
    if criterion_state := ck.get("criterion"):
        missing, unexpected = run.criterion.load_state_dict(criterion_state, strict=False)
        if missing or unexpected:  # e.g. a checkpoint from before the Ad-Corre window was saved
            logger.warning("resuming %s: loss state missing %s / unexpected %s; those restart from scratch",
                           rpath, missing, unexpected)
    log("resumed %s at epoch %d (best %s %.4f at epoch %d)", rpath, state.epoch, cfg.select_metric,
        state.best, state.best_epoch + 1)
    return state, history


def train_one_epoch(run: TrainingRun, net: nn.Module, prep: PreparedData, cfg: TrainConfig, epoch: int,
                    state: _State, device, info: D.DistInfo) -> Dict[str, Any]:
    """One pass over the epoch's batches (augment, forward, loss, step, EMA); returns the train record."""
    from .models.outputs import train_outputs

    t_epoch = time.perf_counter()
    torch.manual_seed(cfg.seed * 100003 + epoch * 1009 + info.rank)  # dropout etc.
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed * 7919 + epoch * 131 + info.rank)
    batches = _epoch_batches(len(prep.idx), run.global_batch, epoch, cfg, info, run.sampler)[:run.steps_per_epoch]
    net.train()
    tot_loss = tot_correct = tot_n = 0.0
    it = batches
    bar = None
    if cfg.progress and info.is_main:
        from tqdm import tqdm

        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False,
                   mininterval=1.0, dynamic_ncols=True)
        it = bar
    for b in it:
        xb = prep.x[b].to(device, non_blocking=True)
        yb = prep.hard[b].to(device, non_blocking=True)
        sb = prep.soft[b].to(device, non_blocking=True)
        if not run.augment.identity:
            xb = run.augment(xb, aug_gen)
        if run.mix.enabled:
            xb, sb, _lam = mix_batch(xb, sb, run.mix, aug_gen)
        if run.teacher is not None:
            sb = run.teacher.blend(xb, sb, cfg.teacher_weight)
        xb = xb.contiguous(memory_format=run.memory_format)
        with torch.autocast(device.type, dtype=run.autocast_dtype, enabled=run.autocast_dtype is not None):
            outputs = train_outputs(net, xb)
        outputs = {key: _to_fp32(v) for key, v in outputs.items()}
        loss, _parts = run.criterion(outputs, yb, soft=sb)
        if not torch.isfinite(loss):
            raise FerEdgeError(f"loss became {loss.item()} at epoch {epoch + 1}, step {state.step}; lower "
                               f"TrainConfig.lr (now {cfg.lr:g}) or set grad_clip (now {cfg.grad_clip:g})")
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        D.average_gradients(run.loss_params, info)  # the loss's own parameters are outside DDP
        if cfg.grad_centralization:
            centralize_gradients([run.model, run.criterion])
        if cfg.grad_clip > 0:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_([*run.model.parameters(), *run.loss_params], cfg.grad_clip)  # all the step moves
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        state.step += 1
        if run.ema is not None:
            run.ema.update(run.model)
        with torch.no_grad():
            n = len(b)
            tot_loss += float(loss) * n
            tot_correct += float((outputs["logits"].argmax(1) == yb).sum())
            tot_n += n
        if bar is not None:
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}",
                            lr=f"{run.scheduler.get_last_lr()[0]:.3g}", refresh=False)
    if bar is not None:
        bar.close()
    return {"epoch": epoch + 1, "train_loss": tot_loss / max(tot_n, 1), "train_accuracy": tot_correct / max(tot_n, 1),
            "lr": run.scheduler.get_last_lr()[0], "train_seconds": round(time.perf_counter() - t_epoch, 2)}


def validate_and_checkpoint(run: TrainingRun, prep: PreparedData, cfg: TrainConfig, state: _State,
                            history: List[dict], record: Dict[str, Any], out_dir: Path, device) -> bool:
    """Rank 0: validate (EMA weights when kept), select on ``select_metric``, write last/best and the history line.

    Returns True when this epoch is the new best.
    """
    eval_model = run.eval_model
    if prep.val is not None:
        vm = evaluate_split(eval_model, prep.val, prep.data.labels, cfg.eval_batch_size, device)
        record.update({f"val_{k_}": v for k_, v in vm.items()})
        score = vm[cfg.select_metric]
    else:
        score = record["train_accuracy"]
    improved = score > state.best or cfg.fit_val  # fitted on train + val: the last epoch is the model
    if improved:
        state.best, state.best_epoch, state.bad_epochs = score, record["epoch"] - 1, 0
    else:
        state.bad_epochs += 1
    history.append(record)
    payload = _payload(cfg, prep.card, run, state, history, record)
    save_checkpoint(out_dir / LAST_NAME, payload)
    if improved:
        save_checkpoint(out_dir / BEST_NAME, payload)
    with open(out_dir / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    return improved


def _train(cfg: TrainConfig, device, info: D.DistInfo, resume: Optional[str], command: str,
           stop_after: Optional[int]) -> Dict[str, Any]:
    """The loop, as named steps: prepare data → build the run → resume → (one epoch → validate and checkpoint)*."""
    _setup_process(cfg, info)
    prep = prepare_data(cfg, info, command)
    run = build_run(cfg, prep, device, info, resume)
    try:
        return _run_epochs(run, prep, cfg, device, info, resume, stop_after)
    finally:  # also when training raises: hooks off, online teachers' sessions closed
        for h in run.hooks:
            h.remove()
        if run.teacher is not None:
            run.teacher.close()


def _run_epochs(run: TrainingRun, prep: PreparedData, cfg: TrainConfig, device, info: D.DistInfo,
                resume: Optional[str], stop_after: Optional[int]) -> Dict[str, Any]:
    """Resume if asked, then (one epoch → weight average → validate and checkpoint)* until done or stopped."""
    out_dir = Path(cfg.output_dir)
    log = logger.info if info.is_main else logger.debug
    state, history = _State(), []
    if resume:
        state, history = resume_run(run, cfg, out_dir / LAST_NAME if resume == "auto" else Path(resume), info)

    net: nn.Module = run.model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[device.index] if device.type == "cuda" else None)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.yaml").write_text(cfg.with_absolute_paths().to_yaml())
    n_params = sum(p.numel() for p in run.model.parameters())
    log("model %s: %.2f M params; %s on %s, %d thread(s), %d process(es); global batch %d, %d steps/epoch",
        cfg.arch, n_params / 1e6, run.precision, device, torch.get_num_threads(), info.world_size, run.global_batch,
        run.steps_per_epoch)

    epoch_times: List[float] = []
    stopped_early = False
    for epoch in range(state.epoch, cfg.epochs):
        t_epoch = time.perf_counter()
        record = train_one_epoch(run, net, prep, cfg, epoch, state, device, info)
        state.epoch = epoch + 1
        if run.swa is not None and state.epoch >= cfg.swa_start:  # every rank: SyncBatchNorm needs them all
            run.swa.update(run.model)
            recompute_batchnorm(run.swa.module, prep.x, cfg.eval_batch_size, device, run.memory_format)
            record["swa_count"] = run.swa.count
        if info.is_main:
            improved = validate_and_checkpoint(run, prep, cfg, state, history, record, out_dir, device)
            logger.info(
                "epoch %d/%d  loss %.4f  train_acc %.4f  val_acc %s  val_f1 %s  lr %.3g  %.1fs%s",
                epoch + 1, cfg.epochs, record["train_loss"], record["train_accuracy"],
                _fmt(record.get("val_accuracy")), _fmt(record.get("val_macro_f1")), record["lr"],
                time.perf_counter() - t_epoch, "  *best" if improved else "")
        epoch_times.append(time.perf_counter() - t_epoch)
        state.bad_epochs = D.broadcast_object(state.bad_epochs, info)
        if cfg.early_stop and state.bad_epochs >= cfg.early_stop:
            log("early stop: no %s improvement for %d epochs", cfg.select_metric, cfg.early_stop)
            stopped_early = True
            break
        if stop_after is not None and len(epoch_times) >= stop_after and state.epoch < cfg.epochs:
            log("stopping after %d epoch(s) as asked; continue with --resume", stop_after)
            break
    D.barrier(info)
    return {
        "best_epoch": state.best_epoch + 1,
        "best_" + cfg.select_metric: state.best,
        "best_checkpoint": str(out_dir / BEST_NAME),
        "last_checkpoint": str(out_dir / LAST_NAME),
        "epochs_run": len(epoch_times),
        "seconds_per_epoch": float(np.mean(epoch_times)) if epoch_times else None,
        "stopped_early": stopped_early,
        "history": history,
    }


def _to_fp32(v):
    if torch.is_tensor(v):
        return v.float() if v.is_floating_point() else v
    if isinstance(v, (list, tuple)) and v and torch.is_tensor(v[0]):
        return type(v)(_to_fp32(t) for t in v)
    return v


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _payload(cfg, card, run: TrainingRun, state: _State, history, record):
    metrics = {k: v for k, v in record.items() if isinstance(v, (int, float))}
    best_card = card.replace(metrics={k: v for k, v in metrics.items() if k.startswith("val_")})
    return {
        "arch": cfg.arch,
        "num_classes": card.num_classes,
        "in_chans": card.channels,
        "model_kwargs": dict(cfg.model_kwargs),
        "state_dict": cpu_state_dict(run.model),
        "ema_state_dict": None if run.ema is None else cpu_state_dict(run.ema.module),
        "swa": None if run.swa is None or not run.swa.count else run.swa.state(),
        "card": best_card.to_dict(),
        "config": cfg.to_dict(),
        "metrics": metrics,
        "epoch": state.epoch,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler.is_enabled() else None,
        "criterion": run.criterion.state_dict(),
        "train_state": {"epoch": state.epoch, "step": state.step, "best": state.best, "best_epoch": state.best_epoch,
                        "bad_epochs": state.bad_epochs, "history": history,
                        "ema_updates": 0 if run.ema is None else run.ema.updates},
    }


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point for ``python -m fer_edge.trainers.train`` / ``torchrun -m fer_edge.trainers.train``."""
    from fer_edge.commands.train import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
