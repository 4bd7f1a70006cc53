#!/usr/bin/env bash
# Issue 6 parts 3-4 (docs/ablation.md): the loss/head ablation on FER+ and the FER2013-label Ad-Corre row.
# Every row: the same edgenet_s backbone at 48 px gray, the same reduced budget, seed 0, ONE thread, run one after
# the other; then `fer-edge eval` of best.ckpt (selected on val) on val and test. CPU only.
#
#   tools/run_ablation.sh                       # all rows: a_ce ... e_arm fer2013 f_ce_mperclass g_wcluster_cw
#   tools/run_ablation.sh a_ce e_arm            # some rows
#   STEPS=eval tools/run_ablation.sh            # re-evaluate existing runs only
#   STEPS=table tools/run_ablation.sh           # print the markdown table of docs/ablation.md from the runs
#   STEPS_PER_EPOCH=56 RUNDIR=runs/ablation_q tools/run_ablation.sh a_ce h_dlp i_ranger_gc j_abp_mish k_dlp_derl
#                                               # issue 19's quarter budget: 4 epochs x 56 steps = 224 steps
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/ferplus.npz}
ROWS=${*:-"a_ce b_adcorre c_adcorre_no_omega d_wcluster e_arm fer2013 f_ce_mperclass g_wcluster_cw h_dlp i_ranger_gc j_abp_mish k_dlp_derl"}
STEPS=${STEPS:-"train eval"}
RUNDIR=${RUNDIR:-runs/ablation}
EXTRA=()
if [[ -n ${STEPS_PER_EPOCH:-} ]]; then EXTRA=(--set max_steps_per_epoch="$STEPS_PER_EPOCH"); fi
NICE=${NICE:-"nice -n 5"}
has() { [[ " $STEPS " == *" $1 "* ]]; }

for row in $ROWS; do
  if [[ $row == fer2013 ]]; then
    # the original FER2013 labels stored in the same file (labels: fer2013 in the config)
    cfg=configs/fer2013_adcorre.yaml; run=runs/fer2013_adcorre; data=$DATA; labels=(--labels fer2013)
  else
    cfg=configs/ablation/$row.yaml; run=$RUNDIR/$row; data=$DATA; labels=()
  fi
  if has train; then
    echo "== $row: train ($(date -u +%H:%M:%S))"
    $NICE fer-edge train --config "$cfg" --set output_dir="$run" --set data="$data" --no-progress "${EXTRA[@]}"
  fi
  if has eval; then
    for split in val test; do
      $NICE fer-edge eval "$run/best.ckpt" --data "$data" --split $split "${labels[@]}" --threads 1 --no-png --out "$run/eval_$split"
    done
  fi
done

if has table; then
  ROWS="$ROWS" RUNDIR="$RUNDIR" python - <<'PY'
import json, os
from pathlib import Path

print("| row | val acc | val macro-F1 | test acc | test macro-F1 | test acc w/o leak | best epoch | train s/epoch |")
print("|---|---|---|---|---|---|---|---|")
recalls = []
for row in os.environ["ROWS"].split():
    run = Path("runs/fer2013_adcorre" if row == "fer2013" else f"{os.environ['RUNDIR']}/{row}")
    ev = {}
    for split in ("val", "test"):
        f = run / f"eval_{split}" / "metrics.json"
        ev[split] = json.loads(f.read_text()) if f.is_file() else None
    hist = [json.loads(l) for l in (run / "history.jsonl").read_text().splitlines() if l.strip()] \
        if (run / "history.jsonl").is_file() else []
    if not ev["test"]:
        print(f"| {row} | (not run) | | | | | | |")
        continue
    v, t = ev["val"]["all"], ev["test"]["all"]
    tl = ev["test"].get("without_leak", {})
    best = max(hist, key=lambda h: h.get("val_accuracy", 0)) if hist else {}
    secs = sum(h.get("train_seconds", 0) for h in hist) / max(len(hist), 1)
    print(f"| {row} | {100 * v['accuracy']:.2f} | {100 * v['macro_f1']:.2f} | {100 * t['accuracy']:.2f} "
          f"| {100 * t['macro_f1']:.2f} | {100 * tl.get('accuracy', float('nan')):.2f} "
          f"| {best.get('epoch', '?')}/{len(hist)} | {secs:.0f} |")
    recalls.append((row, t["per_class_recall"]))
groups = {}
for row, r in recalls:  # one recall table per label set (FER+ rows vs the FER2013 row)
    groups.setdefault(tuple(r), []).append((row, r))
for names, rs in groups.items():
    print("\n| row (test recall %) | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for row, r in rs:
        print(f"| {row} | " + " | ".join(f"{100 * r[n]:.1f}" for n in names) + " |")
PY
fi
