"""fer-edge eval-detector: truth readers, matching, metrics by face size, saved JSON + Markdown."""

import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from fer_edge.cli import main  # noqa: E402
from fer_edge.detect import Detections, FaceDetector  # noqa: E402
from fer_edge.detect.evaluate import (  # noqa: E402
    evaluate_detector,
    greedy_match,
    iou_matrix,
    read_truth,
    size_bin,
)
from fer_edge.errors import InvalidInputError  # noqa: E402


class Fixed(FaceDetector):
    """Returns the same boxes for every frame."""

    name = "fixed"

    def __init__(self, boxes):
        self.boxes = np.asarray(boxes, np.float32).reshape(-1, 4)

    def detect(self, frame):
        n = len(self.boxes)
        return Detections(self.boxes, np.full((n,), 0.9, np.float32), np.zeros((n, 6, 2), np.float32))


def test_truth_readers(tmp_path):
    (tmp_path / "t.csv").write_text("image,x1,y1,x2,y2\na.png,10,10,40,40\na.png,50,50,150,150\nb.png,,,,\n")
    csv_truth = read_truth(tmp_path / "t.csv")
    assert csv_truth["a.png"].boxes.tolist() == [[10, 10, 40, 40], [50, 50, 150, 150]]
    assert csv_truth["b.png"].boxes.shape == (0, 4)
    (tmp_path / "d.xml").write_text(
        "<dataset><images><image file='a.png'><box top='10' left='20' width='30' height='40'/>"
        "<box top='0' left='0' width='5' height='5' ignore='1'/></image></images></dataset>")
    dlib = read_truth(tmp_path / "d.xml")
    assert dlib["a.png"].boxes.tolist() == [[20, 10, 50, 50]] and dlib["a.png"].ignore.tolist() == [[0, 0, 5, 5]]
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text("<annotation><filename>a.png</filename><object><name>face</name><bndbox>"
                               "<xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>"
                               "</annotation>")
    assert read_truth(voc)["a.png"].boxes.tolist() == [[1, 2, 30, 40]]
    assert read_truth(voc / "a.xml")["a.png"].boxes.tolist() == [[1, 2, 30, 40]]


@pytest.mark.parametrize("text, message", [
    ("file,a,b\n", "needs the header image,x1,y1,x2,y2"),
    ("image,x1,y1,x2,y2\na.png,1,2,x,4\n", "line 2"),
])
def test_bad_csv_truth(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(InvalidInputError, match=message):
        read_truth(tmp_path / "t.csv")


def test_bad_truth_files(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_truth(tmp_path / "none.csv")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="dlib or VOC"):
        read_truth(tmp_path / "t.txt")
    (tmp_path / "t.xml").write_text("<other/>")
    with pytest.raises(InvalidInputError, match="neither dlib"):
        read_truth(tmp_path / "t.xml")


def test_matching_and_bins():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float64)
    det = np.array([[0, 0, 10, 10], [21, 0, 31, 10], [100, 100, 110, 110]], np.float64)
    m = iou_matrix(truth, det)
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(9 / 11)
    assert greedy_match(m, 0.4) == [(0, 0), (1, 1)]
    assert greedy_match(m, 0.9) == [(0, 0)]
    assert [size_bin(np.array(b)) for b in ([0, 0, 39, 20], [0, 0, 40, 10], [0, 0, 80, 1], [0, 0, 10, 250])] == \
        ["<40", "40-80", "80-200", ">200"]


def test_metrics_by_hand(tmp_path):
    truth = read_truth(_write_csv(tmp_path))
    frame = np.zeros((200, 300, 3), np.uint8)
    det = Fixed([[10, 10, 40, 40], [100, 100, 190, 190], [250, 0, 290, 40]])  # finds 2 faces; 1 false box
    r = evaluate_detector(det, [("a.png", frame), ("b.png", frame)], truth, iou=0.4, repeat=1)
    # a.png: 3 faces (30 px, 100 px, 60 px) -> found 30 px (IoU 1) and 100 px (IoU 0.81); b.png has no face
    assert (r["faces"], r["found"], r["detections"], r["false_boxes"]) == (3, 2, 6, 4)
    assert r["recall"] == pytest.approx(2 / 3, abs=1e-4) and r["precision"] == pytest.approx(2 / 6, abs=1e-4)
    assert r["false_boxes_per_image"] == 2.0
    assert r["recall_by_size"]["<40"] == {"faces": 1, "found": 1, "recall": 1.0}
    assert r["recall_by_size"]["40-80"] == {"faces": 1, "found": 0, "recall": 0.0}
    assert r["recall_by_size"]["80-200"]["found"] == 1 and r["recall_by_size"][">200"]["recall"] is None
    assert r["mean_iou"] == pytest.approx((1.0 + 8100 / 10000) / 2, abs=1e-4)
    assert set(r["latency_ms"]) == {"300x200"} and r["latency_ms"]["300x200"]["calls"] == 2


def _write_csv(folder):
    path = folder / "truth.csv"
    path.write_text("image,x1,y1,x2,y2\na.png,10,10,40,40\na.png,100,100,200,200\na.png,200,100,260,160\nb.png,,,,\n")
    return path


def test_cli_on_a_generated_truth_file(tmp_path, capsys):
    """The real command on two images of the astronaut with a hand-labelled truth CSV."""
    skimage = pytest.importorskip("skimage.data")
    images = tmp_path / "images"
    images.mkdir()
    face = cv2.cvtColor(skimage.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(images / "astronaut.png"), face)
    cv2.imwrite(str(images / "empty.png"), np.full((240, 320, 3), 100, np.uint8))
    (tmp_path / "truth.csv").write_text("image,x1,y1,x2,y2\nastronaut.png,180,78,266,164\n")
    out = tmp_path / "eval"
    code = main(["eval-detector", str(images), "--truth", str(tmp_path / "truth.csv"), "--detector", "yunet",
                 "blazeface", "--repeat", "1", "--unlisted-empty", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| `yunet` | 1/1 = 1.000 |" in printed and "| `blazeface` |" in printed
    report = json.loads((out / "detector_eval.json").read_text())
    assert [r["detector"] for r in report["results"]] == ["yunet", "blazeface"]
    yunet = report["results"][0]
    assert yunet["images"] == 2 and yunet["false_boxes"] == 0 and yunet["mean_iou"] > 0.6
    assert yunet["recall_by_size"]["80-200"] == {"faces": 1, "found": 1, "recall": 1.0}
    assert report["command"].startswith("fer-edge eval-detector")
    assert "| detector | recall |" in (out / "detector_eval.md").read_text()


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "truth.csv").write_text("image,x1,y1,x2,y2\nmissing.png,1,1,5,5\n")
    assert main(["eval-detector", str(tmp_path), "--truth", str(tmp_path / "truth.csv")]) == 1
    assert "1 labelled image(s) are not in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval-detector", str(tmp_path), "--truth", str(tmp_path / "truth.csv"), "--detector", "haar"])
