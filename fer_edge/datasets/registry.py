"""Dataset readers by name: one table of (reader, format detector) that ``load_dataset``, ``guess_dataset``, the
training config, the CLI help and calibration all read. A new layout is one file and one ``register_reader`` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from ..errors import InvalidInputError
from .affectnet import read_affectnet_csv, read_affectnet_folders
from .base import LabelledData
from .ferplus import FERPLUS_FOLDERS, read_fer2013_csv, read_ferplus_csv, read_ferplus_folders
from .folders import read_class_folders
from .npz import read_npz
from .rafdb import read_rafdb, read_rafdb_folders


@dataclass(frozen=True)
class ReadOptions:
    """Reader settings a config or command line may give (each reader uses the ones that concern it)."""

    labels: Optional[Sequence[str]] = None  # label names in order, for files/folders that do not carry them
    fer2013_csv: str = ""  # fer2013.csv matching a fer2013new.csv (default: beside it)
    affectnet_classes: int = 8  # 7 drops contempt
    label_set: str = ""  # alternative labels stored in an .npz (e.g. "fer2013")


@dataclass(frozen=True)
class DatasetReader:
    """One layout: ``read(path, options)`` and, when the layout can be recognised, ``detect(path) -> bool``.

    ``fallback`` readers (the generic class-folder one) are tried only after every specific detector said no.
    """

    name: str
    read: Callable[[Path, ReadOptions], LabelledData]
    detect: Optional[Callable[[Path], bool]] = None
    help: str = ""
    fallback: bool = False


READERS: Dict[str, DatasetReader] = {}


def register_reader(reader: DatasetReader) -> DatasetReader:
    """Add (or replace) a reader under its name; returns it."""
    READERS[reader.name] = reader
    return reader


def _csv_header(path: Path) -> str:
    if not path.is_file() or path.suffix.lower() != ".csv":
        return ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline()


def _ferplus_csv(path: Path, o: ReadOptions) -> LabelledData:
    return read_ferplus_csv(path, Path(o.fer2013_csv) if o.fer2013_csv else path.parent / "fer2013.csv")


register_reader(DatasetReader(
    "npz", lambda p, o: read_npz(p, labels=o.labels, label_set=o.label_set),
    lambda p: p.is_file() and p.suffix.lower() == ".npz", "x_<split>/y_<split> arrays (ferplus.npz)"))
register_reader(DatasetReader(
    "fer2013_csv", lambda p, o: read_fer2013_csv(p),
    lambda p: {"emotion", "pixels"} <= set(_csv_header(p).strip().split(",")), "fer2013.csv (7 FER2013 labels)"))
register_reader(DatasetReader(
    "ferplus_csv", _ferplus_csv, lambda p: "Image name" in _csv_header(p),
    "fer2013new.csv votes + fer2013.csv pixels (ferplus_csv: path of fer2013.csv)"))
register_reader(DatasetReader(
    "ferplus_folders", lambda p, o: read_ferplus_folders(p),
    lambda p: p.is_dir() and any((p / d / "label.csv").is_file() for d in FERPLUS_FOLDERS),
    "FERPlus FER2013Train/Valid/Test folders with label.csv"))
register_reader(DatasetReader(
    "rafdb", lambda p, o: read_rafdb(p), lambda p: (p / "EmoLabel" / "list_patition_label.txt").is_file(),
    "RAF-DB basic (EmoLabel/ + Image/aligned/)"))
register_reader(DatasetReader(
    "rafdb_folders", lambda p, o: read_rafdb_folders(p), None, "RAF-DB as train/<k>, test/<k> folders"))
register_reader(DatasetReader(
    "affectnet_csv", lambda p, o: read_affectnet_csv(p, num_classes=o.affectnet_classes),
    lambda p: "subDirectory_filePath" in _csv_header(p) or (p.is_dir() and (p / "training.csv").is_file()),
    "AffectNet training.csv/validation.csv + images"))
register_reader(DatasetReader(
    "affectnet_folders", lambda p, o: read_affectnet_folders(p, num_classes=o.affectnet_classes), None,
    "AffectNet class folders (train_set/val_set)"))
register_reader(DatasetReader(
    "folder", lambda p, o: read_class_folders(p, labels=o.labels), lambda p: p.is_dir(),
    "root/<class>/*.jpg or root/{train,val,test}/<class>/*.jpg", fallback=True))


def dataset_names() -> tuple:
    """Every reader name, for config validation and CLI choices."""
    return tuple(READERS)


def guess_dataset(path) -> str:
    """The reader name for a path: the first specific detector that recognises it, else a fallback reader."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"dataset path not found: {path}; set data=... to the dataset file or folder")
    ordered = [r for r in READERS.values() if not r.fallback] + [r for r in READERS.values() if r.fallback]
    for reader in ordered:
        if reader.detect is not None and reader.detect(path):
            return reader.name
    detectable = [r.name for r in ordered if r.detect is not None]
    raise InvalidInputError(f"{path}: cannot tell the dataset format; set dataset=... to one of {list(READERS)} "
                            f"(recognised by content: {', '.join(detectable)})")


def load_dataset(path, dataset: str = "auto", *, labels: Optional[Sequence[str]] = None, fer2013_csv: str = "",
                 affectnet_classes: int = 8, label_set: str = "", check: bool = True) -> LabelledData:
    """Read a dataset with the named reader (``"auto"`` guesses from the path) and validate it.

    ``label_set`` picks alternative labels stored in an ``.npz`` (see ``read_npz``); other readers reject it.
    ``check=False`` skips the training checks (every class has training images), for calibration subsets.
    """
    if not str(path):
        raise InvalidInputError("no dataset given; set data=PATH (config key 'data' or --data)")
    path = Path(path).expanduser()
    if dataset == "auto":
        dataset = guess_dataset(path)
    reader = READERS.get(dataset)
    if reader is None:
        raise InvalidInputError(f"unknown dataset reader {dataset!r}; use 'auto' or one of {list(READERS)}")
    if label_set and dataset != "npz":
        raise InvalidInputError(f"labels={label_set!r} selects labels stored in an .npz, but {path} is read with "
                                f"the {dataset!r} reader; leave labels empty")
    options = ReadOptions(labels=labels, fer2013_csv=fer2013_csv, affectnet_classes=affectnet_classes,
                          label_set=label_set)
    data = reader.read(path, options)
    return data.check(str(path)) if check else data
