"""pytest-benchmark of BlazeFace.detect on a 640x480 frame with one face, one thread (pre + ORT + post).

Numbers: ``python -m pytest tests/runtime/test_detect_benchmark.py --benchmark-columns=min,median,mean``.
"""

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")
pytest.importorskip("pytest_benchmark")

from fer_edge.detect import BlazeFace  # noqa: E402


@pytest.fixture(scope="module")
def frame_640x480():
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = astronaut[16:496]
    return frame


@pytest.mark.parametrize("variant", ["short", "full"])
def test_detect_640x480_one_thread(benchmark, variant, frame_640x480):
    with BlazeFace(variant, threads=1) as det:
        found = benchmark.pedantic(det.detect, args=(frame_640x480,), rounds=200, iterations=1, warmup_rounds=20)
    assert len(found) == 1
