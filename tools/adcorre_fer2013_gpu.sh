#!/usr/bin/env bash
# The seed's headline on a GPU (issue 16 item 6, docs/ablation.md "FER2013 row"): Ad-Corre with the paper's Xception
# at 224 px on the 7 original FER2013 labels, against plain CE with the same backbone, input, batches and budget.
# Each run is selected on PublicTest (val); PrivateTest (test, all 3,573 images) is evaluated once per run.
#   make gpu-data-fer2013   (here: out/gpu/fer2013.npz.xz, ≈ 60 MB — carry out/gpu, without the FER+ pack)
#   OUT=$OUT EPOCHS=12 tools/adcorre_fer2013_gpu.sh        (there; tools/gpu_check.sh runs it when the file came)
# Writes $OUT/fer2013/<row>/{history.jsonl,eval_val,eval_test} and $OUT/fer2013/summary.md; checkpoints stay there
# (Xception is 98 MB in FP32, more than comes back). DEVICE=cpu EPOCHS=1 LIMIT=64 SIZE=64 is the CPU smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-out/gpu-check}
DATA=${DATA:-out/gpu/fer2013.npz}
EPOCHS=${EPOCHS:-12}
DEVICE=${DEVICE:-cuda}
LIMIT=${LIMIT:-0}
SIZE=${SIZE:-224}
ROWS=${ROWS:-"ce_xception adcorre_xception"}
mkdir -p "$OUT/fer2013"
for row in $ROWS; do
  run="$OUT/fer2013/$row"
  "$PY" -m fer_edge.cli train -c "configs/fer2013_$row.yaml" --set data="$DATA" --set epochs="$EPOCHS" \
    --set device="$DEVICE" --set limit_per_split="$LIMIT" --set input_size="[$SIZE, $SIZE]" \
    --set output_dir="$run" --no-progress
  for split in val test; do
    "$PY" -m fer_edge.cli eval "$run/best.ckpt" --data "$DATA" --labels fer2013 --split "$split" --no-png \
      --out "$run/eval_$split"
  done
done
"$PY" - "$OUT/fer2013" $ROWS <<'PYEOF'
import json, sys
from pathlib import Path
root, rows = Path(sys.argv[1]), sys.argv[2:]
lines = ["| row | val acc | test acc | test macro-F1 | best epoch | epochs | train s/epoch |", "|---|---|---|---|---|---|---|"]
for row in rows:
    hist = [json.loads(x) for x in (root / row / "history.jsonl").read_text().splitlines() if x.strip()]
    best = max(range(len(hist)), key=lambda i: hist[i].get("val_accuracy", 0.0))
    m = {s: json.loads((root / row / f"eval_{s}" / "metrics.json").read_text())["all"] for s in ("val", "test")}
    sec = sum(h["train_seconds"] for h in hist) / len(hist)
    lines.append(f"| {row} | {100 * m['val']['accuracy']:.2f} | {100 * m['test']['accuracy']:.2f} | "
                 f"{100 * m['test']['macro_f1']:.2f} | {best + 1} | {len(hist)} | {sec:.1f} |")
(root / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
