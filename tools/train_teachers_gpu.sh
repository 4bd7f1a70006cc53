#!/usr/bin/env bash
# Train the distillation teachers on a GPU and store their soft outputs on FER+ train (issue 16).
#   OUT=out/gpu-check TEACHERS="resnet18:0 resnet18:1" EPOCHS=30 tools/train_teachers_gpu.sh
# Needs the unpacked out/gpu/ferplus_trainval.npz (tools/pack_gpu_data.py here, `xz -dk` there). Writes
# $OUT/teachers/<arch>_s<seed>/{best.ckpt,history.jsonl} and $OUT/teacher_ferplus.npz (flip-averaged ensemble).
# DEVICE=cpu EPOCHS=1 LIMIT=256 runs the same steps as a smoke test without a GPU.
# CONFIG picks the recipe (default configs/ferplus_teacher.yaml). dlib's face-pretrained ResNet:
#   CONFIG=configs/ferplus_teacher_dlib.yaml TEACHERS="dlib_resnet:0" EPOCHS=10 tools/train_teachers_gpu.sh
# (its init_from needs out/dlib/dlib_face_recognition_resnet_model_v1.dat: `make dlib-weights`, then carry out/dlib).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-out/gpu-check}
DATA=${DATA:-out/gpu/ferplus_trainval.npz}
CONFIG=${CONFIG:-configs/ferplus_teacher.yaml}
TEACHERS=${TEACHERS:-"resnet18:0 resnet18:1"}
EPOCHS=${EPOCHS:-30}
DEVICE=${DEVICE:-cuda}
LIMIT=${LIMIT:-0}
mkdir -p "$OUT/teachers"
ckpts=()
for spec in $TEACHERS; do
  arch=${spec%%:*}; seed=${spec##*:}; run="$OUT/teachers/${arch}_s${seed}"
  "$PY" -m fer_edge.cli train -c "$CONFIG" --set data="$DATA" --set arch="$arch" \
    --set seed="$seed" --set epochs="$EPOCHS" --set device="$DEVICE" --set limit_per_split="$LIMIT" \
    --set output_dir="$run" --no-progress
  ckpts+=("$run/best.ckpt")
done
"$PY" -m fer_edge.cli teacher "${ckpts[@]}" --data "$DATA" --out "$OUT/teacher_ferplus.npz"
