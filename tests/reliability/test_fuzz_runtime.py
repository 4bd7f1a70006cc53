"""Fuzz suite (hypothesis): every public entry point either answers correctly or raises a typed FerEdgeError.

Targets: Recognizer.predict / predict_crops / predict_batch, stream sources, preprocessing, detector decoding
(BlazeFace and YuNet fed garbage raw outputs) and the card parser. A raw exception, a crash or an answer that
breaks the output contract (non-finite scores, probabilities not summing to 1, wrong row counts, boxes with
x2 <= x1) fails the test. Budget: ``FER_EDGE_FUZZ_EXAMPLES`` (default ≈ 2,000 cases in all; ``make fuzz`` 100,000).
"""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reliability_tally import budget, record

from fer_edge import Recognizer
from fer_edge.card import COLORS, FERPLUS_LABELS, ModelCard
from fer_edge.errors import FerEdgeError
from fer_edge.preprocess import preprocess, preprocess_reference

pytest.importorskip("onnx")


def fuzz_settings(share):
    return settings(max_examples=budget(share), deadline=None, derandomize=os.environ.get("FER_EDGE_FUZZ_SEED") is None,
                    suppress_health_check=list(HealthCheck), database=None)


_RECS = {}


def _rec(kind):
    """One Recognizer per kind for the whole module (hypothesis re-runs the test body, not fixtures)."""
    if kind not in _RECS:
        import tempfile
        from pathlib import Path

        from fakes.tiny_models import write_tiny_classifier

        folder = Path(tempfile.mkdtemp(prefix="fer_edge_fuzz_"))
        model = write_tiny_classifier(folder / "tiny.onnx")
        _RECS[kind] = Recognizer(model, detector=None if kind == "crops" else "yunet", threads=1)
    return _RECS[kind]


@pytest.fixture(scope="module", autouse=True)
def _shared_recognizers():
    """Open the module's recognizers before any test: shared on purpose, closed by teardown_module (the
    conftest check counts only backends a test opens for itself)."""
    _rec("detect")
    _rec("crops")


def teardown_module(module):
    for rec in _RECS.values():
        rec.close()
    _RECS.clear()


def check_faces(faces, labels):
    for f in faces:
        assert f.label in labels
        assert all(math.isfinite(v) for v in f.box) and f.box[2] > f.box[0] and f.box[3] > f.box[1]
        assert 0.0 <= f.confidence <= 1.0 and math.isfinite(f.score)
        assert abs(sum(f.probs.values()) - 1.0) < 1e-3
        assert f.confidence == max(f.probs.values())


def attempt(target, fn):
    """Run ``fn``; a FerEdgeError is a tallied typed error, anything else propagates (a fuzz failure)."""
    try:
        result = fn()
    except FerEdgeError as exc:
        record(target, f"typed:{type(exc).__name__}")
        return None
    record(target, "ok")
    return result


# ------------------------------------------------------------------------- strategies
ODD_DTYPES = st.sampled_from([np.uint8, np.uint8, np.uint8, np.float32, np.int16, np.bool_, np.uint16, np.float64])


@st.composite
def frames(draw, max_side=72):
    kind = draw(st.integers(0, 9))
    if kind <= 5:  # uint8 images of any small shape (HxW, HxWxC for any C, empty sides included)
        shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=max_side))
        arr = draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, 255), fill=st.integers(0, 255)))
        if draw(st.booleans()) and arr.ndim == 3 and arr.shape[1] > 1:
            arr = arr[:, ::-1]  # negative strides
        return arr
    if kind == 6:  # other dtypes
        dtype = draw(ODD_DTYPES)
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=12))
        return np.zeros(shape, dtype)
    if kind == 7:  # views of a bigger BGRA frame (non-contiguous)
        base = np.full((120, 160, 4), draw(st.integers(0, 255)), np.uint8)
        y, x = draw(st.integers(0, 100)), draw(st.integers(0, 140))
        return base[y:, x::draw(st.integers(1, 3))]
    return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                          st.floats(), st.binary(max_size=8)))


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)


@st.composite
def boxes(draw):
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind <= 3:
        n = draw(st.integers(0, 6))
        x1 = draw(hnp.arrays(np.float32, (n, 2), elements=st.floats(-50, 150, width=32)))
        wh = draw(hnp.arrays(np.float32, (n, 2), elements=st.floats(0.5, 200, width=32)))
        return np.concatenate([x1, x1 + wh], axis=1)
    if kind == 4:
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))
        return draw(hnp.arrays(np.float64, shape, elements=finite_or_not))
    return draw(st.one_of(st.lists(st.lists(finite_or_not, max_size=5), max_size=3), st.text(max_size=4),
                          st.integers(), st.just([[1, 2, 3, 4]]), st.just([["a", "b", "c", "d"]])))


# ------------------------------------------------------------------------- Recognizer
@fuzz_settings(0.15)
@given(frame=frames(), box=boxes())
def test_fuzz_predict(frame, box):
    rec = _rec("detect")
    faces = attempt("predict", lambda: rec.predict(frame, boxes=box))
    if faces is not None:
        check_faces(faces, rec.card.labels)
        if box is not None:
            assert len(faces) <= np.asarray(box).reshape(-1, 4).shape[0]


crop_inputs = st.one_of(
    st.lists(frames(max_side=40), min_size=0, max_size=4),
    st.lists(frames(max_side=40), max_size=3).map(tuple),
    st.lists(frames(max_side=40), max_size=3).map(iter),
    frames(max_side=40),
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=4, min_side=0, max_side=20),
               elements=st.integers(0, 255)),
    st.integers(), st.none(), st.text(max_size=5), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@fuzz_settings(0.125)
@given(crops=crop_inputs)
def test_fuzz_predict_crops(crops):
    rec = _rec("crops")
    n = len(crops) if isinstance(crops, (list, tuple)) else None
    faces = attempt("predict_crops", lambda: rec.predict_crops(crops))
    if faces is not None:
        check_faces(faces, rec.card.labels)
        if n is not None:
            assert len(faces) == n


@fuzz_settings(0.1)
@given(frames_=crop_inputs)
def test_fuzz_predict_batch(frames_):
    rec = _rec("detect")
    n = len(frames_) if isinstance(frames_, (list, tuple)) else None
    results = attempt("predict_batch", lambda: rec.predict_batch(frames_))
    if results is not None:
        if n is not None:
            assert len(results) == n
        for faces in results:
            check_faces(faces, rec.card.labels)


# ------------------------------------------------------------------------- stream sources
_URL_LIKE = st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9+.-]*://", fullmatch=False)

sources = st.one_of(
    st.integers(-10**12, -1), st.integers(10_001, 10**15), st.sampled_from([63, 99, "/dev/video99", "42"]),
    st.text(max_size=20).filter(lambda s: "://" not in s),
    st.sampled_from(["file:///no/such/video.mp4", "videotestsrc ! fakesink", "x ! y", "", " ", "\x00", "a\x00b",
                     "/", ".", "..", "/proc/self/mem", "/dev/null", "nope.mp4", "nope.jpg"]),
    st.lists(frames(max_side=48), max_size=4),
    st.lists(frames(max_side=48), max_size=4).map(iter),
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=5, min_side=1, max_side=16),
               elements=st.integers(0, 255)),
    st.none(), st.booleans(), st.floats(), st.binary(max_size=6), st.dictionaries(st.text(max_size=2), st.integers()),
)


@fuzz_settings(0.125)
@given(source=sources, detect_every=st.integers(1, 3), tracking=st.booleans())
def test_fuzz_stream_sources(source, detect_every, tracking):
    from fer_edge.pipeline import stream

    rec = _rec("detect")

    def run():
        with stream(source, recognizer=rec, detect_every=detect_every, tracking=tracking, timeout=5) as s:
            results = list(s)
        for r in results:
            check_faces(r.faces, rec.card.labels)
        return results

    attempt("stream", run)


# ------------------------------------------------------------------------- preprocessing
@st.composite
def cards(draw):
    color = draw(st.sampled_from(COLORS))
    ch = 1 if color == "gray" else 3
    return ModelCard(
        labels=FERPLUS_LABELS, input_size=(draw(st.integers(8, 40)), draw(st.integers(8, 40))), color=color,
        mean=tuple(draw(st.floats(-2, 2)) for _ in range(ch)), std=tuple(draw(st.floats(1e-3, 10)) for _ in range(ch)),
        crop_margin=draw(st.floats(0.5, 4.0)),
    )


@fuzz_settings(0.15)
@given(frame=frames(), box=boxes(), card=cards(), margin=st.one_of(st.none(), st.floats(0.1, 5)),
       reference=st.booleans())
def test_fuzz_preprocess(frame, box, card, margin, reference):
    fn = preprocess_reference if reference else preprocess
    out = attempt("preprocess", lambda: fn(frame, box, card, margin=margin))
    if out is not None:
        n = 1 if box is None else np.asarray(box).reshape(-1, 4).shape[0]
        assert out.shape == (n,) + card.input_shape and out.dtype == np.float32 and out.flags.c_contiguous
        assert np.all(np.isfinite(out))


# ------------------------------------------------------------------------- detector decoding
RAW_VALUES = [0.0, 1.0, -1.0, 0.5, 1e30, -1e30, 1e-30, np.nan, np.inf, -np.inf, 88.0, -88.0, 1000.0]


class _GarbageSession:
    """Stands in for the detector's ONNX Runtime session and returns hostile raw outputs of the right shapes."""

    def __init__(self, real, seed, weights):
        self.real, self.rng, self.weights = real, np.random.default_rng(seed), weights

    def run(self, names, feeds):
        outs = self.real.run(names, feeds)
        garbage = []
        for o in outs:
            normal = self.rng.normal(0, 3, o.shape).astype(np.float32)
            special = self.rng.choice(np.array(RAW_VALUES, np.float32), size=o.shape)
            mask = self.rng.random(o.shape) < self.weights
            garbage.append(np.where(mask, special, normal).astype(o.dtype))
        return garbage

    def __getattr__(self, name):
        return getattr(self.real, name)


_DETECTORS = {}


def _detector(name):
    if name not in _DETECTORS:
        from fer_edge.detect import create_detector

        _DETECTORS[name] = create_detector(name, threads=1)
    return _DETECTORS[name]


@fuzz_settings(0.15)
@given(name=st.sampled_from(["blazeface", "blazeface_full", "yunet"]), seed=st.integers(0, 2**32 - 1),
       weights=st.floats(0, 1), shape=st.sampled_from([(48, 64, 3), (120, 90, 3), (200, 320, 3), (31, 17)]))
@example(name="yunet", seed=4575, weights=0.625, shape=(48, 64, 3))  # found by make fuzz: a zero-height box
def test_fuzz_detector_decoding(name, seed, weights, shape):
    det = _detector(name)
    real = det._session
    det._session = _GarbageSession(real, seed, weights)
    try:
        found = attempt(f"detect:{name}", lambda: det.detect(np.full(shape, 100, np.uint8)))
    finally:
        det._session = real
    if found is not None:
        assert np.all(np.isfinite(found.boxes)) and np.all(np.isfinite(found.scores))
        assert np.all(np.isfinite(found.landmarks))
        assert np.all(found.boxes[:, 2] > found.boxes[:, 0]) and np.all(found.boxes[:, 3] > found.boxes[:, 1])
        assert np.all((found.scores >= 0) & (found.scores <= 1))


# ------------------------------------------------------------------------- card parser
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
VALID = ModelCard(labels=FERPLUS_LABELS).to_dict()


@st.composite
def card_texts(draw):
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.text(max_size=60))
    if kind == 1:
        return json.dumps(draw(json_values))
    d = dict(VALID)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(VALID) + ["extra", "integrity"]))
        if draw(st.integers(0, 5)) == 0:
            d.pop(key, None)
        else:
            d[key] = draw(json_values)
    text = json.dumps(d)
    if kind == 4:  # byte-level damage
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    return text


@fuzz_settings(0.2)
@given(text=card_texts())
def test_fuzz_card_parser(text):
    card = attempt("card", lambda: ModelCard.from_json(text))
    if card is not None:
        alpha, beta = card.alpha_beta()
        assert all(math.isfinite(v) for v in alpha + beta)
        assert ModelCard.from_json(card.to_json()) == card
