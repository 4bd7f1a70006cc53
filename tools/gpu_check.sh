#!/usr/bin/env bash
# `make gpu-check`: everything a lent GPU machine should run, as one script that needs no network.
# The GPU machine has torch, CuPy, cuda-python, nvcc and onnxruntime but no internet, so nothing is downloaded:
# a venv layered on the system packages gets an editable install of this tree (--no-deps), plus any wheels carried
# in out/gpu/wheels (e.g. pytest). Each step logs to $OUT/<step>.log and its exit code/time to $OUT/result.txt;
# a failed step does not stop the later ones. Budget: GPU_TESTS_S + teachers (TEACHER_S) ≤ 8 minutes by default; a
# call that carries the FER2013 pack instead runs the Ad-Corre headline (FER2013_S).
#   carry out/gpu (packed data: `make gpu-data`) and run:  OUT=$OUT tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu-check}
GPU_TESTS_S=${GPU_TESTS_S:-180}
TEACHER_S=${TEACHER_S:-300}
FER2013_S=${FER2013_S:-480}
mkdir -p "$OUT"
RESULT="$OUT/result.txt"
: > "$RESULT"
step() {
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-14s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - t0))" "$*" | tee -a "$RESULT"
}

{ date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader || echo "nvidia-smi: none"
  nvcc --version | tail -1 || echo "nvcc: none"
  git rev-parse HEAD 2>/dev/null || true; } >> "$RESULT" 2>&1

VENV=.venv-gpu
PY=$VENV/bin/python
step venv python3 -m venv --system-site-packages "$VENV"
if compgen -G "out/gpu/wheels/*.whl" > /dev/null; then
  step wheels "$PY" -m pip install -q --no-index --find-links out/gpu/wheels out/gpu/wheels/*.whl
fi
step install "$PY" -m pip install -q --no-deps --no-build-isolation -e .
step versions "$PY" -c "import torch, numpy, onnxruntime; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
torch.cuda.is_available()); print('numpy', numpy.__version__, 'onnxruntime', onnxruntime.__version__); import cv2; \
print('cv2', cv2.__version__); import cuda.bindings; print('cuda-python ok'); import fer_edge; print('fer_edge ok')"
cat "$OUT/versions.log" >> "$RESULT"
"$PY" -c "import tensorrt; print('tensorrt', tensorrt.__version__)" >> "$RESULT" 2>&1 \
  || echo "tensorrt: not importable (TensorRT gpu tests skip)" >> "$RESULT"

step cpp_ext make cpp_ext
step gpu_tests timeout "$GPU_TESTS_S" "$PY" -m pytest tests benchmarks -q -rs -m gpu --junitxml="$OUT/junit.xml"
tail -5 "$OUT/gpu_tests.log" >> "$RESULT"

if [ -f out/gpu/ferplus_trainval.npz.xz ] && [ ! -f out/gpu/ferplus_trainval.npz ]; then
  step unpack xz -dk out/gpu/ferplus_trainval.npz.xz
fi
if [ -f out/gpu/ferplus_trainval.npz ]; then
  step teachers timeout "$TEACHER_S" env PY="$PY" OUT="$OUT" tools/train_teachers_gpu.sh
  grep -h "best accuracy" "$OUT/teachers.log" >> "$RESULT" || true
else
  echo "teachers       skipped: out/gpu/ferplus_trainval.npz(.xz) not carried (make gpu-data)" | tee -a "$RESULT"
fi

# The Ad-Corre headline (tools/adcorre_fer2013_gpu.sh) when the FER2013 pack came instead (`make gpu-data-fer2013`).
if [ -f out/gpu/fer2013.npz.xz ] && [ ! -f out/gpu/fer2013.npz ]; then
  step unpack13 xz -dk out/gpu/fer2013.npz.xz
fi
if [ -f out/gpu/fer2013.npz ]; then
  step fer2013 timeout "$FER2013_S" env PY="$PY" OUT="$OUT" tools/adcorre_fer2013_gpu.sh
  cat "$OUT/fer2013/summary.md" >> "$RESULT" 2>/dev/null || true
fi
cat "$RESULT"
