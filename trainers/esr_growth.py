"""ESR's branch-at-a-time training (Siqueira et al., AAAI 2020; research/methods.md §5.2) as a sequence of runs.

Stage 1 is the configured run with one branch. Each later stage adds a branch: the model starts from the previous
stage's best (EMA) weights, the new branch learns at the full LR while the shared base and the trained branches go
on at ``old_lr_mult`` × LR, on a fresh class-balanced subset (``per_class_limit`` images per class, a new seed per
stage). The ensemble size with the best val score is the result. Each stage is an ordinary run folder
(``OUTPUT/branches_K``), so a stopped growth resumes at the first unfinished stage.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from fer_edge.errors import InvalidInputError

from .config import TrainConfig
from .distributed import env_rank

logger = logging.getLogger(__name__)

STAGE_SUMMARY = "stage.json"


@dataclass(frozen=True)
class GrowthConfig:
    """How the ensemble grows. The paper's AffectNet run: 9 branches, 20 epochs each, old parts at lr 0.01 of 0.1,
    ≤ 5,000 images per class and branch."""

    branches: int = 9
    branch_epochs: int = 20
    old_lr_mult: float = 0.1

    def __post_init__(self) -> None:
        if self.branches < 1 or self.branch_epochs < 1:
            raise InvalidInputError(f"ESR growth needs branches >= 1 and branch_epochs >= 1, got {self}")
        if not self.old_lr_mult >= 0:
            raise InvalidInputError(f"ESR growth old_lr_mult must be >= 0, got {self.old_lr_mult}")


def stage_config(cfg: TrainConfig, growth: GrowthConfig, k: int, previous: Optional[str]) -> TrainConfig:
    """The TrainConfig of stage ``k`` (1-based): ``k`` branches, started from ``previous`` when k > 1."""
    if not cfg.arch.startswith("esr"):
        raise InvalidInputError(f"ESR growth trains an ESR model (esr, esr_9, esr_9_cbam), got arch {cfg.arch!r}")
    changes: Dict[str, Any] = {
        "model_kwargs": {**dict(cfg.model_kwargs), "num_branches": k},
        "output_dir": str(Path(cfg.output_dir) / f"branches_{k}"),
        "seed": cfg.seed + k - 1,  # a fresh class-balanced subset (and new-branch init) per stage
    }
    if k > 1:
        changes.update(epochs=growth.branch_epochs, init_from=str(previous),
                       lr_mult={"": growth.old_lr_mult, f"branches.{k - 1}": 1.0})
    return cfg.replace(**changes)


def grow_esr(cfg: TrainConfig, growth: GrowthConfig, command: str = "") -> Dict[str, Any]:
    """Run the stages (skipping finished ones) and return {stages, best}; also written to OUTPUT/growth.json."""
    from .train import train

    stages: List[Dict[str, Any]] = []
    previous: Optional[str] = None
    metric = "best_" + cfg.select_metric
    for k in range(1, growth.branches + 1):
        stage_cfg = stage_config(cfg, growth, k, previous)
        done = Path(stage_cfg.output_dir) / STAGE_SUMMARY
        if done.is_file():
            record = json.loads(done.read_text())
            logger.info("ESR growth: stage %d already done (%s %.4f)", k, metric, record[metric])
        else:
            logger.info("ESR growth: stage %d of %d (%d branch(es), %d epochs)", k, growth.branches, k,
                        stage_cfg.epochs)
            summary = train(stage_cfg, command=command)
            record = {"branches": k, metric: summary[metric], "best_epoch": summary["best_epoch"],
                      "best_checkpoint": summary["best_checkpoint"]}
            if env_rank() == 0:  # torchrun: every process runs the stages, rank 0 writes
                done.write_text(json.dumps(record, indent=2) + "\n")
        stages.append(record)
        previous = record["best_checkpoint"]
    best = max(stages, key=lambda r: r[metric])
    result = {"stages": stages, "best": best, "growth": vars(growth)}
    if env_rank() == 0:
        out = Path(cfg.output_dir) / "growth.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    logger.info("ESR growth: best ensemble %d branch(es), %s %.4f → %s", best["branches"], metric, best[metric],
                best["best_checkpoint"])
    return result
