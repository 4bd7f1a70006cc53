"""Corrupt-artefact suite: every damaged or hostile model file is refused with a typed error or runs exactly
like the intact model, through Recognizer and `fer-edge info` (issue 18; variants from tools/corrupt_artefacts.py)."""

import importlib.util
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from reliability_tally import record

from fer_edge import Recognizer
from fer_edge.cli import main as cli_main
from fer_edge.errors import FerEdgeError

pytest.importorskip("onnx")

TOOL = Path(__file__).resolve().parents[2] / "tools" / "corrupt_artefacts.py"


def _tool():
    spec = importlib.util.spec_from_file_location("corrupt_artefacts", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("corrupt_artefacts", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return _tool().generate(tmp_path_factory.mktemp("corrupt"))


def _crops():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (48 + 7 * i, 40 + 5 * i), dtype=np.uint8) for i in range(5)]


def _run(path):
    """('refuse', message) or ('same'-candidate outputs)."""
    try:
        with Recognizer(path, detector=None, threads=1) as rec:
            return "loaded", np.array([[f.probs[k] for k in rec.card.labels] for f in rec.predict_crops(_crops())])
    except FerEdgeError as exc:
        return "refused", str(exc)


def _info(path):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli_main(["info", str(path)])
    return rc, out.getvalue(), err.getvalue()


def test_the_generator_makes_at_least_30_variants(variants):
    assert len(variants) >= 30
    kinds = {v.name.split("_")[0] for v in variants}
    assert {"truncated", "bitflip", "card", "graph", "external", "directory", "symlink", "unreadable"} <= kinds


def test_every_variant_is_refused_with_a_typed_error_or_runs_like_the_intact_model(variants):
    reference = _run(variants[0].path)
    assert reference[0] == "loaded"
    tally = {"refused": 0, "same": 0}
    for v in variants[1:]:
        outcome, value = _run(v.path)
        allowed = v.expect.split("|")
        if outcome == "refused":
            assert "refuse" in allowed, f"{v.name}: refused but should load ({value})"
            assert value and "Traceback" not in value
            tally["refused"] += 1
            record("corrupt:recognizer", "typed:refused")
        else:
            assert "same" in allowed, f"{v.name} ({v.why}) loaded and ran; it must be refused"
            np.testing.assert_array_equal(value, reference[1], err_msg=v.name)
            tally["same"] += 1
            record("corrupt:recognizer", "ok:same_outputs")
    assert tally["refused"] >= 30


def test_fer_edge_info_never_prints_a_traceback(variants):
    for v in variants:
        rc, out, err = _info(v.path)
        assert rc in (0, 1), v.name
        record("corrupt:info", "exit0" if rc == 0 else "exit1_typed")
        assert "Traceback" not in err + out, v.name
        if rc == 1:
            assert err.startswith("fer-edge info: "), (v.name, err)
            assert "\x1b" not in err + out, v.name
        else:
            assert "refuse" not in v.expect or "same" in v.expect, f"{v.name}: info accepted it"
