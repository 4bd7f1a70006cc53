"""Dataset readers (numpy + OpenCV only): each public layout (FER2013, FER+, RAF-DB, AffectNet, class folders,
.npz) → one in-memory form, ``LabelledData``, chosen by name through ``registry.READERS``.

A reader returns the declared label order (stored in the model card) and per split the images (arrays or file
paths), optional face boxes, hard labels (-1 = none), optional soft targets and leak flags. Training
(``fer_edge.trainers``), evaluation and calibration all read data through here.
"""

from .affectnet import AFFECTNET_LABELS, AFFECTNET_SOURCE, read_affectnet_csv, read_affectnet_folders
from .base import (
    IMAGE_SUFFIXES,
    SPLITS,
    ImageItem,
    LabelledData,
    Split,
    duplicates_in,
    joined_splits,
    limit_splits,
    require_path,
    split_off_val,
)
from .ferplus import (
    FER2013_SOURCE,
    FERPLUS_FOLDERS,
    FERPLUS_SOURCE,
    FERPLUS_VOTE_COLUMNS,
    read_fer2013_csv,
    read_fer2013_rows,
    read_ferplus_csv,
    read_ferplus_folders,
    read_ferplus_votes,
    votes_to_majority,
    votes_to_soft,
)
from .folders import read_class_folders
from .npz import read_npz
from .rafdb import RAFDB_LABELS, RAFDB_SOURCE, read_rafdb, read_rafdb_folders
from .registry import READERS, DatasetReader, ReadOptions, dataset_names, guess_dataset, load_dataset, register_reader

__all__ = [
    "AFFECTNET_LABELS", "AFFECTNET_SOURCE", "FER2013_SOURCE", "FERPLUS_FOLDERS", "FERPLUS_SOURCE",
    "FERPLUS_VOTE_COLUMNS", "IMAGE_SUFFIXES", "RAFDB_LABELS", "RAFDB_SOURCE", "READERS", "SPLITS",
    "DatasetReader", "ImageItem", "LabelledData", "ReadOptions", "Split", "dataset_names", "guess_dataset",
    "duplicates_in", "joined_splits", "limit_splits", "load_dataset", "read_affectnet_csv", "read_affectnet_folders",
    "read_class_folders",
    "read_fer2013_csv", "read_fer2013_rows", "read_ferplus_csv", "read_ferplus_folders", "read_ferplus_votes",
    "read_npz", "read_rafdb", "read_rafdb_folders", "register_reader", "require_path", "split_off_val",
    "votes_to_majority", "votes_to_soft",
]
