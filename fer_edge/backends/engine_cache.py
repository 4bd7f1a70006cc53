"""Engine cache: one engine per (ONNX, TensorRT version, GPU, precision, profile), built once and reused.

Folder: ``BackendOptions.cache_dir``, else ``$FER_EDGE_CACHE``, else ``$XDG_CACHE_HOME/fer_edge`` (``~/.cache``).
Builds are serialised per key by a lock file holding the builder's pid and a heartbeat; a lock whose heartbeat is
older than ``stale_s`` (its owner was killed) is taken over, so a dead process cannot block builds for good.
Engines are published atomically (engine, then its sidecar as the commit marker): a failed build leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Optional

from ..errors import FerEdgeError, InvalidInputError
from . import trt_differences as diff
from .engine_build import BuildConfig, build_engine, build_recipe, onnx_facts, profile_shapes
from .engine_card import EngineCard, sha256_file, sidecar_path

log = logging.getLogger(__name__)

STALE_S = 60.0  # a lock whose heartbeat is older than this belongs to a dead builder
HEARTBEAT_S = 5.0


def default_cache_dir() -> Path:
    """``$FER_EDGE_CACHE``, else ``$XDG_CACHE_HOME/fer_edge``, else ``~/.cache/fer_edge``."""
    env = os.environ.get("FER_EDGE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fer_edge"


def cache_key(onnx_sha256: str, trt_version: str, gpu_name: str, compute_capability: str, precision: str,
              profile, dla_core: Optional[int] = None, version_compatible: bool = False) -> str:
    """Stable hex key of everything an engine depends on."""
    parts = {"onnx": onnx_sha256, "trt": trt_version, "gpu": gpu_name, "cc": compute_capability,
             "precision": precision, "profile": [list(map(int, s)) for s in profile], "dla": dla_core,
             "vc": bool(version_compatible)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class BuildLock:
    """An exclusive lock file with the holder's pid/host and a heartbeat (its mtime, refreshed by a thread).

    ``acquire`` waits while another live holder refreshes it; a lock not refreshed for ``stale_s`` seconds is
    removed and taken. Works across processes on one machine and on shared folders (no fcntl).
    """

    def __init__(self, path, stale_s: float = STALE_S, heartbeat_s: Optional[float] = None, poll_s: float = 0.2,
                 timeout_s: Optional[float] = None):
        self.path = Path(path)
        self.stale_s = float(stale_s)
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(0.05, min(HEARTBEAT_S, stale_s / 4))
        self.poll_s, self.timeout_s = poll_s, timeout_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.took_over_stale = False

    def _try_create(self) -> bool:
        try:
            fd = os.open(str(self.path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}, fh)
        return True

    def _is_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > self.stale_s

    def acquire(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        waited_msg = False
        while not self._try_create():
            if self._is_stale():
                log.warning("removing stale engine-build lock %s (no heartbeat for %.0f s: its builder died)",
                            self.path, self.stale_s)
                # rename first so two waiters cannot both delete a fresh lock created in between
                grave = self.path.with_name(f"{self.path.name}.stale.{os.getpid()}.{threading.get_ident()}")
                try:
                    os.replace(self.path, grave)
                    if time.time() - grave.stat().st_mtime > self.stale_s:
                        grave.unlink()
                        self.took_over_stale = True
                    else:  # we moved a lock that had just been refreshed: put it back
                        os.replace(grave, self.path)
                except FileNotFoundError:
                    pass
                continue
            if not waited_msg:
                log.warning("waiting for another process building the same engine (%s)", self.path)
                waited_msg = True
            if self.timeout_s is not None and time.monotonic() - start > self.timeout_s:
                raise FerEdgeError(f"timed out after {self.timeout_s:.0f} s waiting for the engine-build lock "
                                   f"{self.path}; if no other fer-edge build is running, delete it")
            time.sleep(self.poll_s)
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="fer_edge-build-lock", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> BuildLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _valid(engine: Path) -> bool:
    """A published cache entry: engine + sidecar whose sha256 matches."""
    if not engine.is_file() or not sidecar_path(engine).is_file():
        return False
    try:
        card = EngineCard.load(engine)
        return engine.stat().st_size == card.engine_bytes and sha256_file(engine) == card.engine_sha256
    except Exception:  # noqa: BLE001 - any damage means "rebuild"
        return False


def cached_engine(onnx_path, config: Optional[BuildConfig] = None, *, cache_dir=None, trt=None, cuda=None,
                  calibrator=None, stale_s: float = STALE_S) -> Path:
    """The cached engine for ``onnx_path`` on this GPU/TensorRT, built first if missing (once across processes)."""
    from .tensorrt import gpu_identity

    config = config or BuildConfig()
    trt = trt if trt is not None else diff.import_tensorrt("building TensorRT engines")
    if cuda is None:
        from ..cuda import cuda_api

        cuda = cuda_api()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"engine cache folder {folder} is not writable ({exc}); set FER_EDGE_CACHE to a "
                                "writable folder") from exc
    card, _, shape, data = onnx_facts(onnx_path)
    gpu, cc = gpu_identity(cuda)
    recipe = build_recipe(trt, card.precision, config)
    key = cache_key(hashlib.sha256(data).hexdigest(), diff.version_text(trt), gpu, cc, recipe.precision,
                    profile_shapes(card, shape, config), config.dla_core, config.version_compatible)
    engine = folder / f"{Path(onnx_path).stem}-{key}.engine"
    if _valid(engine):
        log.info("using cached TensorRT engine %s", engine)
        return engine
    with BuildLock(folder / f"{key}.lock", stale_s=stale_s):
        if _valid(engine):  # another process built it while we waited
            return engine
        build_engine(onnx_path, engine, config, trt=trt, cuda=cuda, calibrator=calibrator, cache_dir=folder)
    return engine
