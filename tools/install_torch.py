"""Install torch for `make test` without the multi-GB CUDA build where a CPU build is to be had.

1. PyTorch's CPU wheel index answers within a few seconds: install from it (PyPI stays as the extra index for
   torch's own dependencies). On Linux this is what keeps the ~20 nvidia-* wheels of PyPI's torch away.
2. It does not (offline machine, local mirror, firewall): install as pip resolves it. On a machine with a local
   CPU wheel (a wheelhouse in pip's find-links) that is the CPU build, at no extra cost (the probe fails at once
   when the name does not resolve). If the CUDA build came in after all, say so and how to avoid it.

Usage: python tools/install_torch.py [torch==X.Y.Z]   (environment: PIP, TORCH_INDEX, TORCH_PROBE_TIMEOUT)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from typing import Callable, List, Sequence

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"


def index_reachable(url: str, timeout: float) -> bool:
    """True when the index answers for torch within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/torch/", timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def install_command(pip: List[str], torch: str, *, index: str, timeout: float) -> List[str]:
    """The pip command that installs ``torch``: from the CPU index when it answers, else as pip resolves it."""
    if index_reachable(index, timeout):
        return pip + ["install", "-q", "--index-url", index, "--extra-index-url", PYPI, torch]
    return pip + ["install", "-q", torch]


def cuda_wheels(pip: List[str], output: Callable[[List[str]], str]) -> List[str]:
    """The nvidia-* distributions now installed (the sign that the CUDA build of torch came in)."""
    try:
        listed = json.loads(output(pip + ["list", "--format=json"]))
    except (OSError, ValueError, subprocess.CalledProcessError):
        return []
    return sorted(p["name"] for p in listed if p.get("name", "").lower().startswith("nvidia-"))


def main(argv: Sequence[str]) -> int:
    torch = argv[0] if argv else "torch"
    pip = shlex.split(os.environ.get("PIP", f"{shlex.quote(sys.executable)} -m pip"))
    index = os.environ.get("TORCH_INDEX", CPU_INDEX)
    cmd = install_command(pip, torch, index=index, timeout=float(os.environ.get("TORCH_PROBE_TIMEOUT", "5")))
    rc = subprocess.call(cmd)
    if rc == 0 and "--index-url" not in cmd:
        heavy = cuda_wheels(pip, lambda c: subprocess.check_output(c, text=True))
        if heavy:
            print(f"install_torch: {index} was not reachable and pip installed the CUDA build of torch with "
                  f"{len(heavy)} nvidia-* wheels ({', '.join(heavy[:3])}, ...). For a CPU-only machine, point "
                  "TORCH_INDEX at a reachable CPU wheel index or put a CPU wheel in pip's find-links.",
                  file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
