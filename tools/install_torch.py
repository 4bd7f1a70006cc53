"""Install torch for `make test` without the multi-GB CUDA build where a CPU build is to be had.

1. Ask pip what ``pip install TORCH`` would install (``--dry-run --report``, nothing downloaded but metadata).
   No ``nvidia-*`` wheel in the plan (a local CPU wheel, macOS, Windows, an existing install): install that.
2. Otherwise PyPI would bring the CUDA build plus ~20 nvidia wheels: use PyTorch's CPU wheel index when it
   answers within a few seconds (PyPI stays as the extra index for torch's own dependencies).
3. Index unreachable (offline mirror, firewall): fall back to the plain install, saying what it costs.

Usage: python tools/install_torch.py [torch==X.Y.Z]   (environment: PIP, TORCH_INDEX, TORCH_PROBE_TIMEOUT)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from typing import Callable, List, Sequence

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"

Runner = Callable[[Sequence[str]], int]


def _run(cmd: Sequence[str]) -> int:
    return subprocess.call(list(cmd))


def planned_packages(pip: List[str], torch: str, run: Runner = _run) -> List[str]:
    """Names of what ``pip install torch`` would install (empty when pip cannot tell)."""
    fd, report = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        if run(pip + ["install", "--dry-run", "--quiet", "--report", report, torch]) != 0:
            return []
        with open(report) as fh:
            plan = json.load(fh)
        return [item["metadata"]["name"].lower() for item in plan.get("install", [])]
    except (OSError, ValueError, KeyError):
        return []
    finally:
        os.unlink(report)


def index_reachable(url: str, timeout: float) -> bool:
    """True when the index answers (``file://`` URLs too, for mirrors and tests)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def install_command(pip: List[str], torch: str, *, index: str, timeout: float, run: Runner = _run) -> List[str]:
    """The pip command that installs ``torch``, chosen as the module docstring says."""
    plan = planned_packages(pip, torch, run)
    if not any(name.startswith("nvidia-") for name in plan):
        return pip + ["install", "-q", torch]
    if index_reachable(index, timeout):
        return pip + ["install", "-q", "--index-url", index, "--extra-index-url", PYPI, torch]
    print(f"install_torch: {index} is not reachable; installing {torch} from the default index, which on Linux is "
          "the CUDA build with its nvidia-* wheels (several GB). Set TORCH_INDEX to a CPU wheel mirror to avoid it.",
          file=sys.stderr)
    return pip + ["install", "-q", torch]


def main(argv: Sequence[str]) -> int:
    torch = argv[0] if argv else "torch"
    pip = shlex.split(os.environ.get("PIP", f"{shlex.quote(sys.executable)} -m pip"))
    cmd = install_command(pip, torch, index=os.environ.get("TORCH_INDEX", CPU_INDEX),
                          timeout=float(os.environ.get("TORCH_PROBE_TIMEOUT", "5")))
    return _run(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
