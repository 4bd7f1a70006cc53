"""Face detection on the 640x480 benchmark frames, 1 CPU thread and the library default."""

import pytest

from fer_edge.detect import create_detector, detector_names


@pytest.mark.parametrize("threads", [1, None], ids=["1thread", "default"])
@pytest.mark.parametrize("name", [n for n in detector_names() if n != "none"])
@pytest.mark.parametrize("faces", [1, 4])
def test_detect(run, frames, name, threads, faces):
    frame = frames["one"] if faces == 1 else frames["four"]
    det = create_detector(name, threads=threads)
    try:
        found = run(lambda: det.detect(frame), detector=name, threads=threads, faces=faces)
    finally:
        det.close()
    assert len(found) == faces
