"""Start a real ``tritonserver`` for tests: the binary and Python backend that the nvidia-pytriton wheel bundles.

What it needs, and why (measured here with nvidia-pytriton 0.5.5 = Triton 2.44; 0.7.0 = Triton 2.51 behaves alike):
- the wheel's ``tritonserver`` and ``backends/python`` plus the backend stub built for the backend Python's version;
- a backend Python environment with numpy < 2: the stub was most likely compiled against numpy 1.x's C ABI, and
  under numpy 2 ``Tensor.as_numpy()`` returns wrong values (an input [1, 2, 3] arrives as [1, 1, 1]) and outputs
  made with ``pb_utils.Tensor(name, array)`` reach the server with 0 bytes, so it answers "output tensor shape does
  not match size of output" — the "first request came back empty" seen earlier. ``make test`` builds
  ``.venv-triton``; ``FER_EDGE_TRITON_PYTHON`` may name another interpreter;
- ``LD_LIBRARY_PATH`` starting with that interpreter's own ``libpython3.X.so`` folder: the stub otherwise links the
  system libpython, whose compiled-in stdlib differs ("'_thread.RLock' object has no attribute
  '_recursion_count'");
- ``PATH`` starting with that environment's ``bin`` (the embedded interpreter finds its prefix there), and this
  checkout installed there (``pip install --no-deps -e .``; the stub ignores ``PYTHONPATH``), so the frames model
  imports the fer_edge under test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
TRITON_PYTHON_ENV = "FER_EDGE_TRITON_PYTHON"


def _backend_python() -> Tuple[Optional[Path], str]:
    path = Path(os.environ.get(TRITON_PYTHON_ENV, REPO / ".venv-triton" / "bin" / "python"))
    if not path.exists():
        return None, f"no backend Python with numpy<2 at {path} (run `make test`, or set {TRITON_PYTHON_ENV})"
    return path, ""


def _probe(python: Path) -> Tuple[Optional[dict], str]:
    code = ("import json, sys, sysconfig, numpy, cv2, onnxruntime, fer_edge; print(json.dumps({'numpy': "
            "numpy.__version__, 'version': '%d.%d' % sys.version_info[:2], "
            "'libdir': sysconfig.get_config_var('LIBDIR'), 'soname': sysconfig.get_config_var('INSTSONAME'), "
            "'fer_edge': fer_edge.__file__}))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    if proc.returncode != 0:
        return None, f"{python} lacks numpy/opencv/onnxruntime/fer_edge: {proc.stderr.strip().splitlines()[-1:]}"
    info = json.loads(proc.stdout)
    if Path(info["fer_edge"]).resolve().parent != (REPO / "fer_edge").resolve():
        return None, f"{python} imports fer_edge from {info['fer_edge']}, not this checkout (pip install -e . there)"
    if int(info["numpy"].split(".")[0]) >= 2:
        return None, f"{python} has numpy {info['numpy']}; Triton 2.44's Python backend stub needs numpy<2"
    if not (Path(info["libdir"]) / info["soname"]).exists():
        return None, f"{python} has no shared libpython ({info['libdir']}/{info['soname']}) for the backend stub"
    return info, ""


def triton_prerequisites() -> Tuple[Optional[dict], str]:
    """({"server", "backend", "stub", "libs", "python", ...}, "") or (None, why a real server cannot run here)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.origin:
        return None, "nvidia-pytriton (which bundles tritonserver) is not installed"
    dist = Path(spec.origin).parent / "tritonserver"
    server = dist / "bin" / "tritonserver"
    if not server.is_file():
        return None, f"no tritonserver binary in {dist}"
    python, why = _backend_python()
    if python is None:
        return None, why
    info, why = _probe(python)
    if info is None:
        return None, why
    stub = dist / "python_backend_stubs" / info["version"] / "triton_python_backend_stub"
    if not stub.is_file():
        return None, f"pytriton ships no Python backend stub for Python {info['version']}"
    return dict(info, server=server, backend=dist / "backends" / "python", stub=stub, python=python,
                libs=Path(spec.origin).parents[1] / "nvidia_pytriton.libs"), ""


def free_ports(n: int) -> Sequence[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running_tritonserver(repo: Path, models: Sequence[str], workdir: Path, timeout_s: float = 180.0
                         ) -> Iterator[dict]:
    """Run tritonserver on loopback ports with ``models`` loaded; yields {"http": "127.0.0.1:P", "grpc", "log"}.

    Raises RuntimeError (with the server log's tail) if the server exits or the models are not ready in time.
    """
    pre, why = triton_prerequisites()
    if pre is None:
        raise RuntimeError(why)
    backends = workdir / "backends" / "python"
    backends.mkdir(parents=True)
    for item in pre["backend"].iterdir():
        if item.is_file():
            shutil.copy(item, backends / item.name)
    shutil.copy(pre["stub"], backends / "triton_python_backend_stub")
    http, grpc, metrics = free_ports(3)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (pre["libdir"], str(pre["libs"]),
                                                         os.environ.get("LD_LIBRARY_PATH", "")) if p)
    env["PATH"] = os.pathsep.join((str(Path(pre["python"]).parent), os.environ.get("PATH", "")))
    env["OMP_NUM_THREADS"] = "1"
    log_path = workdir / "tritonserver.log"
    cmd = [str(pre["server"]), f"--model-repository={repo}", f"--backend-directory={workdir / 'backends'}",
           "--model-control-mode=explicit", *[f"--load-model={m}" for m in models],
           f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}", "--http-address=127.0.0.1",
           "--grpc-address=127.0.0.1", "--allow-gpu-metrics=false", "--exit-timeout-secs=10"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(workdir))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if all(_ready(f"http://127.0.0.1:{http}/v2/models/{m}/ready") for m in models):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"tritonserver did not get {list(models)} ready (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield {"http": f"127.0.0.1:{http}", "grpc": f"127.0.0.1:{grpc}", "log": log_path, "command": cmd}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
