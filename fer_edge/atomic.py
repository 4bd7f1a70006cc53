"""Atomic publishing (temp file beside the target + rename): the runtime's engine cache needs it, the tools reuse it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_bytes"]


@contextlib.contextmanager
def atomic_path(out, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``out``; on success it is renamed onto ``out``, on failure it is removed.

    The one publishing primitive of fer_edge (engines and their sidecars, calibration caches, every ONNX step):
    a reader never sees a half-written file, and a failed or killed writer leaves the old file (or none).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(out.parent), prefix=f".{out.name}.", suffix=suffix + ".tmp")
    os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; published files get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
