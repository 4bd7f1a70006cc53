"""Atomic publishing (temp file beside the target + rename): the runtime's engine cache needs it, the tools reuse it."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_bytes", "remove_stale_temps", "temp_path_for"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(out, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside ``out``; on success it is flushed to disk and renamed onto ``out``, on failure
    it is removed.

    The one publishing primitive of fer_edge (engines and their sidecars, calibration caches, every ONNX step):
    a reader never sees a half-written file, and a failed or killed writer leaves the old file (or none). The
    temp file's name carries the writer's pid, so the next publish to the same path removes the temp files of
    writers that died (``kill -9``, power loss) instead of letting them pile up. The data and the rename are
    fsync'ed: after a power cut the path holds the old file or the whole new one.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    fd, tmp = tempfile.mkstemp(dir=str(out.parent), prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=suffix + ".tmp")
    os.close(fd)
    _usual_permissions(tmp)
    try:
        yield Path(tmp)
        _fsync_file(tmp)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def temp_path_for(out) -> Path:
    """A temp name beside ``out`` that keeps its suffix (for writers that pick a format by suffix, e.g. OpenCV's
    VideoWriter) and carries this process's pid, so ``remove_stale_temps`` can clean it up after a crash."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=str(out.parent), prefix=f"{_temp_prefix(out)}{os.getpid()}.",
                               suffix=".tmp" + out.suffix)
    os.close(fd)
    _usual_permissions(tmp)
    return Path(tmp)


def _usual_permissions(path: str) -> None:
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)  # mkstemp makes 0600; published files get the usual permissions


def _temp_prefix(out: Path) -> str:
    return f".{out.name}."


def remove_stale_temps(out) -> int:
    """Delete temp files that writers of ``out`` left behind when they died; returns how many were removed.

    A temp file is stale when the pid in its name is not a running process. Temp files of live writers
    (another process publishing the same path right now) are left alone.
    """
    out = Path(out)
    prefix = _temp_prefix(out)
    removed = 0
    try:
        names = os.listdir(out.parent)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(prefix) and (name.endswith(".tmp") or ".tmp." in name)):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        try:
            os.unlink(os.path.join(out.parent, name))
            removed += 1
            log.info("removed %s, left behind by a writer that died (pid %s)", name, pid_text)
        except OSError:
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep its file
    return True


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
