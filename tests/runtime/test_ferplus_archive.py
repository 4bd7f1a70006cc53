"""`fer-edge data ferplus`: ferplus.npz from miniatures of fer2013.csv and fer2013new.csv (hand-checked labels),
and, where the team's archive is present, the same arrays as that archive for the same rows."""

import csv

import numpy as np
import pytest

from fer_edge.card import FERPLUS_LABELS
from fer_edge.cli import main
from fer_edge.datasets import FERPLUS_VOTE_COLUMNS, read_npz
from fer_edge.errors import InvalidInputError

USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def write_csvs(folder, rows):
    """rows: (usage, fer2013 emotion, 48x48 uint8 image, image name ('' = dropped by FER+), 10 votes)."""
    fer, new = folder / "fer2013.csv", folder / "fer2013new.csv"
    with open(fer, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for usage, emotion, img, _, _ in rows:
            w.writerow([emotion, " ".join(str(int(v)) for v in img.reshape(-1)), usage])
    with open(new, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name", *FERPLUS_VOTE_COLUMNS])
        for usage, _, _, name, votes in rows:
            w.writerow([usage, name, *votes])
    return fer, new


def face(value):
    img = np.full((48, 48), value, np.uint8)
    img[0, 0] = 255 - value
    return img


MINI = [
    # usage, emotion, image, name, votes (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
    # unknown, NF)                                                            FER+ majority (single votes dropped)
    ("Training", 3, face(10), "fer0000000.png", [0, 9, 1, 0, 0, 0, 0, 0, 0, 0]),  # happiness: 9 of 9
    ("Training", 6, face(20), "fer0000001.png", [4, 0, 0, 4, 0, 0, 0, 0, 2, 0]),  # 4 of 10: no majority → -1
    ("Training", 0, face(30), "", [0, 0, 0, 0, 10, 0, 0, 0, 0, 0]),  # dropped by FER+ (no image name)
    ("Training", 5, face(40), "fer0000003.png", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),  # all single votes → -1
    ("Training", 4, face(50), "fer0000004.png", [0, 0, 0, 0, 0, 0, 0, 3, 0, 0]),  # contempt 3 of 3
    ("PublicTest", 6, face(10), "fer0000005.png", [6, 0, 0, 0, 0, 0, 0, 0, 1, 3]),  # neutral 6 of 9; leak (train)
    ("PublicTest", 2, face(60), "fer0000006.png", [0, 0, 0, 0, 0, 0, 0, 0, 3, 7]),  # not a face → -1
    ("PrivateTest", 5, face(60), "fer0000007.png", [0, 0, 8, 0, 0, 0, 0, 0, 2, 0]),  # surprise; leak (val)
    ("PrivateTest", 1, face(70), "fer0000008.png", [0, 0, 0, 0, 0, 5, 0, 0, 0, 0]),  # disgust
]


def test_builds_the_archive_from_the_two_csvs(tmp_path, capsys):
    fer, new = write_csvs(tmp_path, MINI)
    out = tmp_path / "sub" / "ferplus.npz"
    assert main(["data", "ferplus", "--fer2013", str(fer), "--labels", str(new), "--out", str(out)]) == 0
    assert "train: neutral 0, happiness 1" in capsys.readouterr().out
    z = np.load(out)
    assert z["y_train"].tolist() == [1, -1, -1, 7]
    assert z["y_val"].tolist() == [0, -1] and z["y_test"].tolist() == [2, 5]
    assert z["row_train"].tolist() == [0, 1, 3, 4]
    assert z["row_val"].tolist() == [5, 6] and z["row_test"].tolist() == [7, 8]
    assert z["fer2013_y_train"].tolist() == [3, 6, 5, 4]
    assert z["leak_val"].tolist() == [True, False] and z["leak_test"].tolist() == [True, False]
    assert z["votes_train"].dtype == np.uint8 and z["votes_train"][0].tolist() == MINI[0][4]
    assert np.array_equal(z["x_test"][1], face(70))
    assert tuple(z["class_names"].tolist()) == FERPLUS_LABELS
    data = read_npz(out)  # what `fer-edge train`/`eval` read: FER+ soft targets and leak flags
    assert data.labels == FERPLUS_LABELS and data.splits["train"].soft is not None
    assert data.splits["test"].leak.tolist() == [True, False]


def test_mismatched_or_malformed_files_are_named(tmp_path, capsys):
    from fer_edge.datasets.ferplus_archive import ferplus_arrays

    fer, new = write_csvs(tmp_path, MINI)
    short = tmp_path / "short.csv"
    short.write_text("\n".join(new.read_text().splitlines()[:-1]) + "\n")
    assert main(["data", "ferplus", "--fer2013", str(fer), "--labels", str(short),
                 "--out", str(tmp_path / "o.npz")]) == 1
    assert "has 8 rows but" in capsys.readouterr().err
    with pytest.raises(InvalidInputError, match="expected header"):
        ferplus_arrays(fer, fer)
    assert main(["data", "ferplus", "--fer2013", str(tmp_path / "missing.csv"), "--labels", str(new),
                 "--out", str(tmp_path / "o.npz")]) == 1
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.data
def test_same_arrays_as_the_team_archive_for_the_same_rows(tmp_path, shared_data):
    """Write the csv rows of the first images of each split back out of ferplus.npz and rebuild them."""
    take = {"train": 200, "val": 80, "test": 80}
    with np.load(shared_data / "ferplus.npz") as z:  # each z[key] re-reads the whole array: slice once
        ref = {k: z[k][:take[k.rsplit("_", 1)[1]]] if k.rsplit("_", 1)[-1] in take else z[k] for k in z.files}
    rows = []
    for split, n in take.items():
        last = -1
        for i in range(n):
            row = int(ref[f"row_{split}"][i])
            for dropped in range(last + 1, row) if last >= 0 else ():  # rows FER+ dropped stay dropped
                rows.append((USAGE[split], 0, face(dropped % 200), "", [0] * 10))
            rows.append((USAGE[split], int(ref[f"fer2013_y_{split}"][i]), ref[f"x_{split}"][i], f"fer{row:07d}.png",
                         ref[f"votes_{split}"][i].tolist()))
            last = row
    fer, new = write_csvs(tmp_path, rows)
    out = tmp_path / "ferplus.npz"
    assert main(["data", "ferplus", "--fer2013", str(fer), "--labels", str(new), "--out", str(out)]) == 0
    z = np.load(out)
    for split in take:
        for key in ("x", "votes", "y", "fer2013_y"):
            got, want = z[f"{key}_{split}"], ref[f"{key}_{split}"]
            assert got.dtype == want.dtype and np.array_equal(got, want), (key, split)
    assert set(z.files) <= set(ref)
    for key in ("class_names", "vote_names", "fer2013_class_names"):
        assert z[key].tolist() == ref[key].tolist()
