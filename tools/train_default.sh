#!/usr/bin/env bash
# Reproduce the bundled default model (fer_edge/assets/ferplus_default*.onnx) from FER+ (../shared/data/ferplus.npz):
# train → export (EMA weights) → simplify → INT8 Q/DQ → evaluate val/test through the runtime → stamp the cards
# with the measured metrics → bundle → bench. CPU only; about 1 h of training on one free x86 core (AVX2).
#
#   tools/train_default.sh                 # everything
#   STEPS="export quantize eval bundle bench" tools/train_default.sh   # reuse an existing run
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-../shared/data/ferplus.npz}
RUN=${RUN:-runs/ferplus_default}          # training output (best.ckpt, last.ckpt, history.jsonl)
OUT=${OUT:-$RUN/export}                   # exported models and evaluation reports
MARGIN=${MARGIN:-1.25}                    # card crop_margin for BlazeFace boxes (docs/model_card.md, "Crop margin")
STEPS=${STEPS:-"train export quantize eval bundle bench"}
mkdir -p "$OUT"

has() { [[ " $STEPS " == *" $1 "* ]]; }

if has train; then
  # configs/ferplus_default.yaml: edgenet_s, soft FER+ vote targets, SGD-Nesterov 0.1 cosine, EMA, 26 epochs.
  # Interrupted runs continue bit-for-bit with: fer-edge train -c ... --resume auto
  fer-edge train -c configs/ferplus_default.yaml --set data="$DATA" --set output_dir="$RUN" --no-progress
fi

if has export; then
  # ONNX opset 17, dynamic batch, EMA weights, parity-checked against torch, then onnxsim (BatchNorm folded).
  fer-edge export "$RUN/best.ckpt" -o "$OUT/ferplus_default.fp32.onnx"
fi

if has quantize; then
  # Static INT8 Q/DQ (per-channel weights, per-tensor activations), 512 class-balanced FER+ *train* images.
  fer-edge quantize "$OUT/ferplus_default.fp32.onnx" --precision int8 --calib "$DATA" --size 512 \
    -o "$OUT/ferplus_default.int8.onnx"
fi

if has eval; then
  # Model selection used val only; test is reported once, for the released files. Runtime backend, 1 thread.
  for p in fp32 int8; do
    for split in val test; do
      fer-edge eval "$OUT/ferplus_default.$p.onnx" --data "$DATA" --split "$split" --threads 1 \
        --out "$OUT/eval_${p}_${split}"
    done
  done
fi

if has bundle; then
  # Write the measured metrics and the BlazeFace crop margin into each card, then copy into fer_edge/assets/.
  OUT="$OUT" MARGIN="$MARGIN" RUN="$RUN" python - <<'EOF'
import dataclasses, json, os
from pathlib import Path

from fer_edge.engines.artifact import attach_card, card_from_model, load_onnx, save_onnx

out, run = Path(os.environ["OUT"]), Path(os.environ["RUN"])
history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
for precision in ("fp32", "int8"):
    src = out / f"ferplus_default.{precision}.onnx"
    model = load_onnx(src)
    card = card_from_model(model, str(src))
    metrics = dict(card.metrics)
    for split in ("val", "test"):
        rep = json.loads((out / f"eval_{precision}_{split}" / "metrics.json").read_text())
        for subset, suffix in (("all", ""), ("without_leak", "_without_leak")):
            m = rep[subset]
            metrics[f"ferplus_{split}_accuracy{suffix}"] = round(float(m["accuracy"]), 4)
            metrics[f"ferplus_{split}_macro_f1{suffix}"] = round(float(m["macro_f1"]), 4)
            metrics[f"ferplus_{split}_n{suffix}"] = int(m["n"])
        metrics[f"ferplus_{split}_per_class_recall"] = {k: round(float(v), 4) for k, v in rep["all"]["per_class_recall"].items()}
    metrics["training_epochs"] = len(history)
    provenance = dict(card.provenance)
    provenance.update({
        "data": "FER2013 images (ICML 2013 challenge; no explicit licence, research use) with FER+ labels "
                "(Microsoft, MIT licence; Barsoum et al., ICMI 2016); train split only",
        "evaluation": "FER+ majority labels; val = PublicTest (3,199), test = PrivateTest (3,152); runtime backend",
        "command": "tools/train_default.sh (fer-edge train -c configs/ferplus_default.yaml)",
        "model_card": "docs/model_card.md",
    })
    card = dataclasses.replace(card, name="ferplus_default", version="1", crop_margin=float(os.environ["MARGIN"]),
                               metrics=metrics, provenance=provenance)
    attach_card(model, card)
    dst = Path("fer_edge/assets") / ("ferplus_default.onnx" if precision == "int8" else "ferplus_default_fp32.onnx")
    save_onnx(model, dst)
    (dst.with_suffix(".json")).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    print(f"{dst}: test accuracy {metrics['ferplus_test_accuracy']:.4f}, macro-F1 {metrics['ferplus_test_macro_f1']:.4f}")
EOF
fi

if has bench; then
  # Classifier latency on ONE CPU thread, batch 1 (median of 500 runs), both precisions.
  for f in fer_edge/assets/ferplus_default.onnx fer_edge/assets/ferplus_default_fp32.onnx; do
    fer-edge bench "$f" --threads 1 --batch 1 --runs 500 --no-cold-start --no-plots --out "$OUT/bench_$(basename "$f" .onnx).json"
  done
fi
