"""Where the one kernel source lives (wheel copy or repository), its digest, and the g++ host build of it.

The wheel carries ``cpp_ext/include`` and ``cpp_ext/src`` as ``fer_edge/_kernels/`` (setup.py copies them) so
the NVRTC path compiles the very file nvcc and g++ compile; an editable install reads ``cpp_ext/`` directly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import MissingDependencyError

PACKAGE = Path(__file__).resolve().parent.parent
KERNEL_FILE = "preprocess.cu"
LIBRARY_NAME = "libfer_edge_preproc.so"  # the nvcc device build (make cpp_ext)
HOST_LIBRARY_NAME = "libfer_edge_preproc_host.so"  # the g++ host build


def kernel_root() -> Path:
    """The folder holding ``include/`` and ``src/`` of the kernel (raises FileNotFoundError if neither exists)."""
    for root in (PACKAGE / "_kernels", PACKAGE.parent / "cpp_ext"):
        if (root / "src" / KERNEL_FILE).is_file():
            return root
    raise FileNotFoundError(
        f"the preprocessing kernel source ({KERNEL_FILE}) is not in {PACKAGE / '_kernels'} nor in a cpp_ext/ "
        "checkout; reinstall fer-edge"
    )


def include_dirs(root: Optional[Path] = None) -> List[Path]:
    root = kernel_root() if root is None else root
    return [root / "include", root / "src"]


def kernel_path(root: Optional[Path] = None) -> Path:
    return (kernel_root() if root is None else root) / "src" / KERNEL_FILE


def source_digest(root: Optional[Path] = None) -> str:
    """sha256 over every kernel source file (the run-time compile cache key)."""
    root = kernel_root() if root is None else root
    h = hashlib.sha256()
    for path in sorted(p for d in include_dirs(root) for p in d.rglob("*") if p.suffix in (".h", ".cu")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def library_dir() -> Path:
    """Where ``make cpp_ext`` installs the built libraries (``fer_edge/_lib/``; not in git)."""
    return PACKAGE / "_lib"


def cache_dir() -> Path:
    """Per-user folder for run-time compiled kernels: ``$FER_EDGE_CACHE/kernels`` or the XDG cache."""
    base = os.environ.get("FER_EDGE_CACHE")
    if base:
        return Path(base) / "kernels"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "fer_edge" / "kernels"


HOST_FLAGS = ("-x", "c++", "-std=c++11", "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-Wall", "-Wextra")


def build_host_library(out: Path, extra_flags: Sequence[str] = (), compiler: str = "g++") -> Path:
    """Compile the kernel's host build (the per-pixel function over host memory) into ``out`` with g++.

    Used by tests and benchmarks (CI has no GPU); ``make cpp_ext`` builds the same library with CMake.
    """
    exe = shutil.which(compiler)
    if exe is None:
        raise MissingDependencyError(compiler, "dev", "building the preprocessing kernel's host library")
    root = kernel_root()
    cmd = [exe, *HOST_FLAGS, *extra_flags, *(f"-I{d}" for d in include_dirs(root)), str(kernel_path(root)),
           "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return Path(out)
