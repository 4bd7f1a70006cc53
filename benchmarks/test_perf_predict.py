"""End to end ``Recognizer.predict(frame)`` with 1 and 4 faces, and the video pipeline's frames per second."""

import time

import numpy as np
import pytest

from fer_edge.recognizer import Recognizer


@pytest.fixture(scope="module", params=[1, None], ids=["1thread", "default"])
def recognizer(request, model_path):
    rec = Recognizer(model_path, threads=request.param)
    rec.bench_threads = request.param
    yield rec
    rec.close()


@pytest.mark.parametrize("faces", [1, 4])
def test_predict_frame(run, recognizer, frames, faces):
    frame = frames["one"] if faces == 1 else frames["four"]
    found = run(lambda: recognizer.predict(frame), faces=faces, threads=recognizer.bench_threads,
                model=recognizer.card.name)
    assert len(found) == faces


def test_predict_given_box(run, recognizer, frames):
    found = run(lambda: recognizer.predict(frames["one"], boxes=frames["boxes_one"]), faces=1,
                threads=recognizer.bench_threads, model=recognizer.card.name, detection=False)
    assert len(found) == 1


@pytest.mark.parametrize("detect_every", [1, 5])
def test_video_fps(benchmark, recognizer, frames, detect_every):
    """One round = a 50-frame clip through ``fer_edge.pipeline.stream``; extra_info has the FPS."""
    pipeline = pytest.importorskip("fer_edge.pipeline")
    clip = [np.roll(frames["one"], shift=(i % 9) - 4, axis=1) for i in range(50)]

    def play():
        return sum(1 for _ in pipeline.stream(iter(clip), recognizer=recognizer, detect_every=detect_every,
                                              live=False))

    t0 = time.perf_counter()
    n = benchmark.pedantic(play, rounds=5, warmup_rounds=1, iterations=1)
    assert n == len(clip)
    benchmark.extra_info.update({"frames_per_round": len(clip), "detect_every": detect_every,
                                 "threads": recognizer.bench_threads,
                                 "fps_median": round(len(clip) / benchmark.stats.stats.median, 1),
                                 "wall_s": round(time.perf_counter() - t0, 2)})
