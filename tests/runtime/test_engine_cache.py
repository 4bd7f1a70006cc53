"""Engine cache: key, reuse, a lock a killed process cannot hold, no partial engines, one build per key."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes.tiny_models import write_tiny_classifier
from fakes.trt_world import TrtWorld

from fer_edge import Recognizer
from fer_edge.backends import BackendOptions
from fer_edge.backends.engine_build import BuildConfig
from fer_edge.backends.engine_cache import BuildLock, cache_key, cached_engine, default_cache_dir
from fer_edge.errors import FerEdgeError

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def onnx(tmp_path):
    return write_tiny_classifier(tmp_path / "tiny.onnx")


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FER_EDGE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FER_EDGE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "fer_edge"


def test_key_changes_with_every_part():
    base = dict(onnx_sha256="a" * 64, trt_version="10.13.0", gpu_name="Orin", compute_capability="8.7",
                precision="fp16", profile=[(1, 1, 48, 48), (8, 1, 48, 48), (32, 1, 48, 48)])
    k = cache_key(**base)
    for field, value in [("onnx_sha256", "b" * 64), ("trt_version", "10.3.0"), ("gpu_name", "Thor"),
                         ("compute_capability", "11.0"), ("precision", "int8"),
                         ("profile", [(1, 1, 48, 48), (8, 1, 48, 48), (16, 1, 48, 48)])]:
        assert cache_key(**dict(base, **{field: value})) != k, field
    assert cache_key(**base) == k


def test_recognizer_on_onnx_with_tensorrt_builds_once_then_reuses(monkeypatch, onnx, tmp_path):
    world = TrtWorld(monkeypatch, "10.13.0.35")
    opts = BackendOptions(cache_dir=tmp_path / "cache")
    with Recognizer(onnx, backend="tensorrt", detector=None, options=opts) as rec:
        assert rec.backend.name == "tensorrt" and rec.backend.path.parent == tmp_path / "cache"
    with Recognizer(onnx, backend="tensorrt", detector=None, options=opts) as rec:
        assert rec.backend.details()["tensorrt_version"] == "10.13.0"
    assert len(world.calls("build_serialized_network")) == 1
    engines = sorted(p.name for p in (tmp_path / "cache").glob("*.engine"))
    assert len(engines) == 1 and engines[0].startswith("tiny-")
    world.use("11.4.0.106")  # another TensorRT: another key, another engine
    with pytest.raises(Exception, match="strongly typed only|fp32"):
        cached_engine(onnx, BuildConfig(precision="fp16"), cache_dir=tmp_path / "cache", trt=world.trt,
                      cuda=world.cuda)
    cached_engine(onnx, cache_dir=tmp_path / "cache", trt=world.trt, cuda=world.cuda)
    assert len(list((tmp_path / "cache").glob("*.engine"))) == 2


def test_a_failed_build_leaves_no_partial_engine(monkeypatch, onnx, tmp_path):
    world = TrtWorld(monkeypatch, "10.13.0.35")

    def boom(self, network, config):
        self.logger.log(1, "out of memory while building")
        return None

    monkeypatch.setattr(world.trt.Builder, "build_serialized_network", boom)
    with pytest.raises(FerEdgeError, match="failed to build.*out of memory"):
        cached_engine(onnx, cache_dir=tmp_path / "cache", trt=world.trt, cuda=world.cuda)
    left = [p.name for p in (tmp_path / "cache").iterdir() if p.name != "timing"]
    assert left == []  # no engine, no sidecar, no temp file, no lock


def test_engine_without_sidecar_in_the_cache_is_rebuilt(monkeypatch, onnx, tmp_path):
    world = TrtWorld(monkeypatch, "10.13.0.35")
    engine = cached_engine(onnx, cache_dir=tmp_path, trt=world.trt, cuda=world.cuda)
    Path(str(engine) + ".json").unlink()  # a build killed between the two renames
    assert cached_engine(onnx, cache_dir=tmp_path, trt=world.trt, cuda=world.cuda) == engine
    assert len(world.calls("build_serialized_network")) == 2


def test_lock_left_by_a_killed_process_is_taken_over_after_the_stale_timeout(tmp_path):
    lock = tmp_path / "k.lock"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from fer_edge.backends.engine_cache import BuildLock
        BuildLock({str(lock)!r}, stale_s=1.0, heartbeat_s=0.1).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        first = lock.stat().st_mtime
        deadline = time.monotonic() + 10  # heartbeat is alive: the mtime moves (however busy the machine)
        while lock.stat().st_mtime == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.stat().st_mtime > first
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        killed_at = time.monotonic()
        waiter = BuildLock(lock, stale_s=1.0, poll_s=0.05, timeout_s=10)
        with waiter:
            waited = time.monotonic() - killed_at
            assert waiter.took_over_stale
        assert waited < 1.0 + 1.5, f"waited {waited:.1f} s for a dead holder's lock (stale timeout 1 s)"
        assert not lock.exists()
    finally:
        if child.poll() is None:
            child.kill()


def test_a_live_lock_blocks_until_released(tmp_path):
    lock = tmp_path / "k.lock"
    holder = BuildLock(lock, stale_s=1.0, heartbeat_s=0.1).acquire()
    try:
        with pytest.raises(FerEdgeError, match="timed out"):
            BuildLock(lock, stale_s=1.0, poll_s=0.05, timeout_s=1.6).acquire()  # live heartbeat: never stale
    finally:
        holder.release()
    with BuildLock(lock, stale_s=1.0) as again:
        assert not again.took_over_stale


CHILD = """
import json, sys, time
sys.path.insert(0, {tests!r})
from fakes.fake_cuda import FakeCudaApi
from fakes.fake_tensorrt import make_fake_tensorrt
from fer_edge.backends.engine_cache import cached_engine
trt = make_fake_tensorrt("10.13.0.35")
original = trt.Builder.build_serialized_network
def slow(self, network, config):
    time.sleep(1.0)  # a build long enough for the other process to arrive
    return original(self, network, config)
trt.Builder.build_serialized_network = slow
cuda = FakeCudaApi()
trt.attach_cuda(cuda)
path = cached_engine({onnx!r}, cache_dir={cache!r}, trt=trt, cuda=cuda)
print(json.dumps({{"path": str(path), "built": len([c for c in trt.calls if c[0] == "build_serialized_network"])}}))
"""


def test_two_concurrent_builders_of_one_key_produce_one_engine(onnx, tmp_path):
    import json

    code = CHILD.format(tests=str(TESTS), onnx=str(onnx), cache=str(tmp_path / "cache"))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0]["path"] == results[1]["path"]
    assert sorted(r["built"] for r in results) == [0, 1]  # one built, the other waited and reused it
    assert len(list((tmp_path / "cache").glob("*.engine"))) == 1
    assert not list((tmp_path / "cache").glob("*.lock"))
