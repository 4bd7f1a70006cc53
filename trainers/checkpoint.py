"""Checkpoint format: model weights + card + config + metrics in one file, loaded with weights_only=True.

Keys: format, arch, num_classes, in_chans, model_kwargs, state_dict, ema_state_dict (optional), swa (optional:
{state_dict, count}, the weight average of ``swa_start``), card (dict),
config (dict), metrics (dict), epoch, optimizer/scheduler/scaler state (optional, for --resume).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from fer_edge.card import ModelCard
from fer_edge.errors import ModelFormatError

FORMAT = "fer_edge.checkpoint/1"


def cpu_state_dict(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """``module``'s weights detached on the CPU: what a checkpoint stores, whatever device trained it."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_checkpoint(path, payload: Dict[str, Any]) -> Path:
    """Atomically write ``payload`` (plus the format tag) to ``path``: temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(payload, format=FORMAT)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(data, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path) -> Dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check its format tag."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"Checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFormatError(f"{path} is not a readable fer_edge checkpoint: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFormatError(f"{path} is not a fer_edge checkpoint (expected format {FORMAT!r})")
    return data


def checkpoint_weights(data: Dict[str, Any], *, use_ema: bool = True) -> Optional[dict]:
    """The model weights a checkpoint carries: the SWA mean or else the EMA weights when saved (and wanted), else
    the raw ones — the weights its validation scored."""
    averaged = (data.get("swa") or {}).get("state_dict") or data.get("ema_state_dict")
    return (averaged if use_ema else None) or data.get("state_dict")


def model_from_checkpoint(path, *, use_ema: bool = True) -> Tuple[torch.nn.Module, ModelCard]:
    """Rebuild the model in eval mode with its card; EMA weights are preferred when present."""
    from .models import create_model

    data = load_checkpoint(path)
    try:
        model = create_model(data["arch"], data["num_classes"], data["in_chans"], **data.get("model_kwargs", {}))
    except KeyError as exc:
        raise ModelFormatError(f"{path} lacks the key {exc}; it was not written by fer_edge.trainers") from exc
    except Exception as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"{path}: cannot build architecture {data.get('arch')!r}: {exc}") from exc
    state = checkpoint_weights(data, use_ema=use_ema)
    if not state:
        raise ModelFormatError(f"{path} holds no model weights (state_dict); it was not written by fer_edge.trainers")
    model.load_state_dict(state)
    model.eval()
    card = ModelCard.from_dict(data["card"])
    card.check_output_width(data["num_classes"], where=str(path))
    return model, card
