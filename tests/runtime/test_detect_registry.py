"""Detector registry: names, factories and option validation with errors that list the valid values."""

import pytest

from fer_edge.detect import (
    DEFAULT_DETECTOR,
    REGISTRY,
    BlazeFace,
    Detections,
    FaceDetector,
    YuNet,
    create_detector,
    detector_names,
)
from fer_edge.detect.registry import OPTIONS
from fer_edge.errors import InvalidInputError


def test_names_and_default():
    assert detector_names() == ("yunet", "yunet_far", "blazeface", "blazeface_full", "none")
    assert DEFAULT_DETECTOR in REGISTRY
    for entry in REGISTRY.values():
        assert set(entry.options) <= set(OPTIONS) and entry.summary


@pytest.mark.parametrize("name, kind", [("yunet", YuNet), ("yunet_far", YuNet), ("blazeface", BlazeFace),
                                        ("blazeface_short", BlazeFace), ("BlazeFace_Full", BlazeFace)])
def test_every_name_builds_its_detector(name, kind):
    det = create_detector(name, threads=1)
    assert isinstance(det, kind)
    det.close()


def test_factories_pass_options_through():
    far = create_detector("yunet_far", threads=1, min_face=12, verify_below=0)
    assert far.input_size == (640, 160) and far.min_face == 12
    assert create_detector("yunet", threads=1, input_size=[480], verify_below=0).input_size == 480
    assert create_detector("blazeface_full", threads=1, blend=False).variant.name == "full"
    assert create_detector("none") is None and create_detector(None) is None


def test_unknown_name_lists_every_name():
    with pytest.raises(InvalidInputError) as err:
        create_detector("haar")
    for name in detector_names():
        assert repr(name) in str(err.value)
    with pytest.raises(InvalidInputError, match="detector must be a name"):
        create_detector(42)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(InvalidInputError) as err:
        create_detector("yunet", blend=True)
    assert "['blend']" in str(err.value) and "input_size" in str(err.value) and "verify_below" in str(err.value)
    with pytest.raises(InvalidInputError, match="input_size"):
        create_detector("blazeface", input_size=320)
    with pytest.raises(InvalidInputError, match="valid options: none"):
        create_detector("none", threads=1)


@pytest.mark.parametrize("name, options, valid", [
    ("yunet", {"score_threshold": 1.2}, "a number in \\[0, 1\\]"),
    ("yunet", {"score_threshold": -0.1}, "a number in \\[0, 1\\]"),
    ("yunet", {"score_threshold": "high"}, "a number in \\[0, 1\\]"),
    ("yunet", {"min_face": -5}, "a number of pixels >= 0"),
    ("yunet", {"input_size": -320}, "an integer >= 32"),
    ("yunet", {"input_size": 300.5}, "an integer >= 32"),
    ("yunet", {"max_faces": 0}, "an integer >= 1 or None"),
    ("yunet_far", {"threads": -1}, "an integer >= 1 or None"),
    ("blazeface", {"iou_threshold": 2}, "a number in \\[0, 1\\]"),
    ("blazeface", {"score_threshold": 0.0}, "must be in \\(0, 1\\)"),
    ("blazeface_full", {"blend": "yes"}, "True or False"),
])
def test_bad_values_name_the_valid_range(name, options, valid):
    with pytest.raises(InvalidInputError, match=valid):
        create_detector(name, **options)


def test_instances_pass_through_but_take_no_options():
    class Fixed(FaceDetector):
        def detect(self, frame):
            return Detections.empty()

    det = Fixed()
    assert create_detector(det) is det
    with pytest.raises(InvalidInputError, match="only when the detector is given by name"):
        create_detector(det, min_face=3)
