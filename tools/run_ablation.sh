#!/usr/bin/env bash
# Issue 6 parts 3-4 (docs/ablation.md): the loss/head ablation on FER+ and the FER2013-label Ad-Corre row.
# Every row: the same edgenet_s backbone at 48 px gray, the same reduced budget, seed 0, ONE thread, run one after
# the other; then `fer-edge eval` of best.ckpt (selected on val) on val and test. CPU only.
#
#   tools/run_ablation.sh                       # all rows: a_ce b_adcorre c_adcorre_no_omega d_wcluster e_arm fer2013 f_ce_mperclass
#   tools/run_ablation.sh a_ce e_arm            # some rows
#   STEPS=eval tools/run_ablation.sh            # re-evaluate existing runs only
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/ferplus.npz}
FER2013=${FER2013:-runs/fer2013.npz}       # FER2013 labels re-packed as y_* (see below)
ROWS=${*:-"a_ce b_adcorre c_adcorre_no_omega d_wcluster e_arm fer2013 f_ce_mperclass"}
STEPS=${STEPS:-"train eval"}
NICE=${NICE:-"nice -n 5"}
has() { [[ " $STEPS " == *" $1 "* ]]; }

fer2013_npz() {
  # The trainer's npz reader takes labels from y_* and names from class_names; FER2013's original labels are
  # fer2013_y_* in the same file, so re-pack them (no -1: all 28,709 / 3,589 / 3,573 images are labelled).
  [[ -f "$FER2013" ]] && return 0
  mkdir -p "$(dirname "$FER2013")"
  SRC="$DATA" DST="$FER2013" python - <<'PY'
import os
import numpy as np
z = np.load(os.environ["SRC"])
out = {"class_names": z["fer2013_class_names"]}
for s in ("train", "val", "test"):
    out[f"x_{s}"], out[f"y_{s}"] = z[f"x_{s}"], z[f"fer2013_y_{s}"].astype(np.int64)
    if f"leak_{s}" in z.files:
        out[f"leak_{s}"] = z[f"leak_{s}"]
np.savez(os.environ["DST"], **out)
print("wrote", os.environ["DST"], {s: len(out[f"y_{s}"]) for s in ("train", "val", "test")})
PY
}

for row in $ROWS; do
  if [[ $row == fer2013 ]]; then
    fer2013_npz
    cfg=configs/fer2013_adcorre.yaml; run=runs/fer2013_adcorre; data=$FER2013
  else
    cfg=configs/ablation/$row.yaml; run=runs/ablation/$row; data=$DATA
  fi
  if has train; then
    echo "== $row: train ($(date -u +%H:%M:%S))"
    $NICE fer-edge train --config "$cfg" --set output_dir="$run" --set data="$data" --no-progress
  fi
  if has eval; then
    for split in val test; do
      $NICE fer-edge eval "$run/best.ckpt" --data "$data" --split $split --threads 1 --no-png --out "$run/eval_$split"
    done
  fi
done
