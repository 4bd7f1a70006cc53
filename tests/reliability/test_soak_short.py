"""Short form of `make soak` (tools/soak.py): a few hundred frames through predict and stream + writers with
the bundled model; descriptors and threads must end where they started and RSS must stay flat."""

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "soak.py"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self")
def test_short_soak_keeps_memory_descriptors_and_threads_flat():
    pytest.importorskip("skimage")
    spec = importlib.util.spec_from_file_location("fer_edge_soak", TOOL)
    soak = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fer_edge_soak", soak)
    spec.loader.exec_module(soak)
    report = soak.run(frames=400, warmup=150, every=100, rotate=150)
    for mode in ("predict", "stream"):
        g = report["modes"][mode]["growth"]
        assert g["frames_measured"] == 400
        assert report["modes"][mode]["faces"] > 0
        assert g["fds_end"] <= g["fds_start"], (mode, g)
        assert g["threads_end"] <= g["threads_start"], (mode, g)
        assert g["rss_growth_mb"] < 10.0, (mode, g)  # the 5 MB criterion is for the long form (make soak)
    assert report["modes"]["stream"]["stop_reason"] == "end"
