"""Concurrency suite: one Recognizer shared by threads, close() during use, and forked processes (issue 18).

Every thread and every process must get exactly the single-threaded answers; close() may only ever cause the
typed "closed" error. ``FER_EDGE_CONCURRENCY_CALLS`` sets the calls per thread (default 25 for CI; the
figures in docs/reliability.md come from 1,000).
"""

import multiprocessing
import os
import random
import sys
import threading

import numpy as np
import pytest
from reliability_tally import record

from fer_edge import Recognizer
from fer_edge.errors import FerEdgeError

CALLS = int(os.environ.get("FER_EDGE_CONCURRENCY_CALLS", "25"))
THREADS = 8


def _frames():
    from fer_edge.bench import moving_faces_frames, synthetic_face

    face = synthetic_face()
    frames = moving_faces_frames(face, n=6, size=(320, 240), faces=1, face_size=120, step=17)
    return frames + [np.full((200, 200), 30, np.uint8), np.dstack([frames[0], np.full((240, 320), 255, np.uint8)])]


def _key(faces):
    return [(f.label, round(f.confidence, 6), tuple(round(v, 3) for v in f.box)) for f in faces]


@pytest.fixture(scope="module")
def shared(tiny_onnx_model):
    pytest.importorskip("skimage")
    rec = Recognizer(tiny_onnx_model, threads=1)
    frames = _frames()
    reference = [_key(rec.predict(f)) for f in frames]
    assert sum(len(r) > 0 for r in reference) >= 4, "the detector should find the pasted faces"
    crops_ref = _key(rec.predict_crops([f[:, :, :3] if f.ndim == 3 else f for f in frames]))
    yield rec, frames, reference, crops_ref
    rec.close()


def test_threads_sharing_one_recognizer_get_the_single_threaded_answers(shared):
    rec, frames, reference, crops_ref = shared
    mismatches, errors = [], []

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(CALLS):
            i = rng.randrange(len(frames))
            try:
                kind = rng.randrange(3)
                if kind == 0:
                    got, want = _key(rec.predict(frames[i])), reference[i]
                elif kind == 1:
                    got = [_key(x) for x in rec.predict_batch([frames[i], frames[0]])]
                    want = [reference[i], reference[0]]
                else:
                    crops = [f[:, :, :3] if f.ndim == 3 else f for f in frames]
                    got, want = _key(rec.predict_crops(crops)), crops_ref
                if got != want:
                    mismatches.append((seed, i, kind))
            except BaseException as exc:  # noqa: BLE001 - any exception is a failure here
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors[:3]
    assert not mismatches, mismatches[:5]
    record("concurrency", f"threads_x_calls:{THREADS}x{CALLS}")


def test_close_at_a_random_moment_only_ever_gives_the_closed_error(tiny_onnx_model):
    frames = [np.full((120, 160, 3), 90, np.uint8), np.full((48, 48), 200, np.uint8)]
    for round_ in range(5):
        rec = Recognizer(tiny_onnx_model, threads=1)
        seen, errors = [], []

        def worker():
            for _ in range(200):
                try:
                    rec.predict(frames[0])
                    rec.predict_crops([frames[1]])
                    seen.append("ok")
                except FerEdgeError as exc:
                    assert "closed" in str(exc)
                    seen.append("closed")
                    return
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        threading.Event().wait(random.Random(round_).uniform(0.0, 0.3))
        rec.close()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]
        record("concurrency", "close_rounds")


def _child(args):
    """In a forked child: the Recognizer inherited from the parent, and one created in the child."""
    path, index = args
    rec = _FORK_STATE["rec"]
    inherited = _key(rec.predict(_FORK_STATE["frames"][index]))
    with Recognizer(path, threads=1) as own:
        fresh = _key(own.predict(_FORK_STATE["frames"][index]))
    return index, inherited, fresh


_FORK_STATE = {}


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_processes_get_the_same_answers(shared, tiny_onnx_model):
    rec, frames, reference, _ = shared
    _FORK_STATE.update(rec=rec, frames=frames)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_child, [(str(tiny_onnx_model), i) for i in range(len(frames))], chunksize=1)
    for index, inherited, fresh in results:
        assert inherited == reference[index]
        assert fresh == reference[index]
    record("concurrency", f"forked_children_x_frames:2x{len(frames)}")
