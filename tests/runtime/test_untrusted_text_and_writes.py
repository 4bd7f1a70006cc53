"""Untrusted text (terminal, CSV, URLs) and write hygiene (issue 18, defects 1, 6, 7)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_edge.atomic import atomic_path, atomic_write_bytes, remove_stale_temps
from fer_edge.cli import main
from fer_edge.face import Face
from fer_edge.safe_text import redact_url, spreadsheet_safe, terminal_safe
from fer_edge.writers import CsvWriter, TrackSummary


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:p@ss@cam/live", "rtsp://admin:***@cam/live"),
    ("rtsp://admin:a/b@cam", "rtsp://admin:***@cam"),
    ("rtsp://admin:secret@cam:554/stream1", "rtsp://admin:***@cam:554/stream1"),
    ("https://cam/live.m3u8?token=abc123&ch=2", "https://cam/live.m3u8?token=***&ch=2"),
    ("rtsp://u:pw@cam/s?user=a&Password=b&api_key=k#f", "rtsp://u:***@cam/s?user=a&Password=***&api_key=***#f"),
    ("rtsp://cam/live", "rtsp://cam/live"),
    ("http://viewer@cam/x", "http://viewer@cam/x"),
    ("rtsp://admin:@cam", "rtsp://admin:***@cam"),
])
def test_url_credentials_are_redacted(url, shown):
    assert redact_url(url) == shown
    for secret in ("p@ss", "a/b", "abc123", "pw@", "=b", "=k"):
        if secret in url and secret not in shown:
            assert secret not in redact_url(url)


def test_terminal_and_spreadsheet_escaping():
    assert terminal_safe("a\x1b[2Jb\x07\u202e") == "a\\x1b[2Jb\\x07\\u202e"
    assert terminal_safe("plain text é") == "plain text é"
    assert spreadsheet_safe("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    for cell in ("+1+2", "-2+3", "@SUM(A1)", "\t=1"):
        assert spreadsheet_safe(cell).startswith("'")
    assert spreadsheet_safe("-0.25") == "-0.25" and spreadsheet_safe(-0.25) == -0.25
    assert spreadsheet_safe("happiness") == "happiness"


def test_csv_cells_never_start_a_formula(tmp_path):
    labels = ("=HYPERLINK(\"http://evil\",\"x\")", "+cmd", "neutral")
    face = Face(box=(0, 0, 10, 10), score=0.9, label=labels[0], confidence=0.7,
                probs={labels[0]: 0.7, labels[1]: 0.2, labels[2]: 0.1})
    with CsvWriter(tmp_path / "rows.csv", labels=labels) as w:
        w.write_faces(0, 0.0, [face])
    import csv

    rows = list(csv.reader((tmp_path / "rows.csv").open()))
    for cell in rows[0] + rows[1]:
        assert not cell.startswith(("=", "+", "@")), cell
    assert "'=HYPERLINK" in rows[1][8]


def test_fer_edge_info_escapes_tensor_names_and_paths(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from fakes.tiny_models import write_tiny_classifier

    path = write_tiny_classifier(tmp_path / "evil\x1b]0;pwned\x07.onnx")
    model = onnx.load(str(path))
    model.graph.output[0].name = "logits\x1b[2J"
    for node in model.graph.node:
        node.output[:] = ["logits\x1b[2J" if o == "logits" else o for o in node.output]
    onnx.save(model, str(path))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b" in out


def test_negative_camera_index_is_a_typed_error_not_a_crash():
    code = ("import fer_edge\ntry:\n    fer_edge.stream(-1)\n"
            "except fer_edge.InvalidInputError as e:\n    print('typed', e)\n")
    for index in ("-1", "-2"):
        proc = subprocess.run([sys.executable, "-c", code.replace("-1", index)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, (index, proc.returncode, proc.stderr[-500:])
        assert "typed camera index" in proc.stdout


def test_jsonl_record_is_on_disk_before_the_next_image(tiny_onnx_model, tmp_path, monkeypatch):
    images = tmp_path / "in"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"f{i}.png"), np.full((60, 60, 3), 40 * i, np.uint8))
    out = tmp_path / "out"
    seen = []
    real = cv2.imwrite

    def spy(path, image, *a):
        jsonl = out / "predictions.jsonl"
        seen.append(len(jsonl.read_text().splitlines()) if jsonl.exists() else 0)
        return real(path, image, *a)

    monkeypatch.setattr(cv2, "imwrite", spy)
    assert main(["predict", str(images), "--model", str(tiny_onnx_model), "--detector", "none", "--out", str(out),
                 "--json"]) == 0
    assert seen == [0, 1, 2]


def test_summary_json_is_published_atomically(tmp_path, monkeypatch):
    import fer_edge.atomic as atomic

    calls = []
    real = atomic.os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (calls.append((a, b)), real(a, b))[1])
    path = TrackSummary().write_json(tmp_path / "s.json")
    assert json.loads(path.read_text())["frames"] == 0
    assert calls and Path(calls[0][1]) == path


def test_atomic_publish_fsyncs_data_and_folder(tmp_path, monkeypatch):
    import fer_edge.atomic as atomic

    synced = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert len(synced) >= 2  # the file's data, then the folder holding the rename


def test_temp_files_of_killed_writers_are_removed_by_the_next_publish(tmp_path):
    target = tmp_path / "model.onnx"
    script = textwrap.dedent(f"""
        import os, sys, time
        from fer_edge.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"half")
            print(tmp, flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists() and not target.exists()
    assert remove_stale_temps(target) == 0  # its writer is alive: left alone
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert tmp.exists() and not target.exists()  # nothing partial at the final path
    with atomic_path(target) as new:
        new.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not tmp.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "1\u00b2"])
def test_non_ascii_digits_are_not_camera_indices(text):
    from fer_edge.errors import InvalidInputError
    from fer_edge.video import open_source, source_kind

    assert source_kind(text) != "camera"
    with pytest.raises(InvalidInputError):
        open_source(text)  # was a raw ValueError from int("²")


def test_a_killed_video_writer_leaves_nothing_at_the_final_path_and_the_next_run_cleans_up(tmp_path):
    target = tmp_path / "run_annotated.avi"
    script = textwrap.dedent(f"""
        import time
        import numpy as np
        from fer_edge.writers import VideoWriter
        w = VideoWriter({str(target)!r}, fps=10)
        for _ in range(5):
            w.write(np.zeros((48, 64, 3), np.uint8))
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not target.exists()
    leftovers = [p for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and ".tmp" in leftovers[0].name
    from fer_edge.writers import VideoWriter

    with VideoWriter(target, fps=10) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    cap = cv2.VideoCapture(str(target))
    assert cap.isOpened() and cap.read()[0]
    cap.release()
