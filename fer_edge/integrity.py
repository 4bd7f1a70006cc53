"""Integrity record of an ONNX model: a sha256 over the graph (and every other part but the metadata) plus the card.

Export and quantize write the record into the card (``card.integrity``); the runtime recomputes it at load and
refuses a model whose bytes or card changed since (bit flips, truncations, a tampered card). It reads the ONNX
protobuf's top level itself (no ``onnx`` package at run time), so the digest is the same on both sides by
construction: both call :func:`integrity_digest` on the serialized bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .card import CARD_METADATA_KEY, ModelCard, card_from_metadata
from .errors import ModelFormatError

__all__ = [
    "ALGORITHM",
    "sha256_file",
    "FILE_RECORD_KEY",
    "file_integrity_record",
    "verify_file_integrity",
    "SCOPE",
    "ModelBytes",
    "read_model_bytes",
    "integrity_digest",
    "integrity_record",
    "verify_integrity",
]

ALGORITHM = "sha256"
SCOPE = "onnx-without-metadata+card"  # what the digest covers (recorded so a later scheme can be told apart)
FILE_SCOPE = "onnx-without-metadata+metadata-entries"
FILE_RECORD_KEY = "fer_edge.integrity"  # models without a card (the bundled face detectors) keep their record here
_DOMAIN = b"fer_edge.integrity.v1\0"
_GRAPH_FIELD = 7  # ModelProto.graph
_METADATA_FIELD = 14  # ModelProto.metadata_props (StringStringEntryProto: key = 1, value = 2)
_INITIALIZER_FIELD = 5  # GraphProto.initializer (TensorProto)
_TENSOR_EXTERNAL_DATA = 13  # TensorProto.external_data
_TENSOR_DATA_LOCATION = 14  # TensorProto.data_location (1 = EXTERNAL)
MAX_MODEL_BYTES = 2 ** 31 - 1  # protobuf's own limit for one ONNX file


class ModelBytes:
    """The top-level fields of a serialized ONNX ModelProto, split into what the digest covers and metadata.

    Attributes:
        covered: raw bytes (tag + payload) of every top-level field except ``metadata_props``, in file order.
        metadata: (key, value) metadata entries in file order (duplicates kept: the card rule decides).
        has_graph: whether a ``graph`` field is present.
    """

    def __init__(self, data: bytes, where: str = "the model"):
        self.where = where
        self.covered: List[bytes] = []
        self.metadata: List[Tuple[str, str]] = []
        self.has_graph = False
        self._graph: Optional[memoryview] = None
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            start = pos
            tag, pos = _varint(view, pos, where)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                raise self._bad("field number 0")
            if wire == 0:
                _, pos = _varint(view, pos, where)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                length, pos = _varint(view, pos, where)
                if length > end - pos:
                    raise self._bad("a field runs past the end of the file (truncated?)")
                if number == _METADATA_FIELD:
                    self.metadata.append(_entry(view[pos : pos + length], where))
                elif number == _GRAPH_FIELD:
                    self._graph = view[pos : pos + length]
                pos += length
            else:
                raise self._bad(f"unsupported protobuf wire type {wire}")
            if pos > end:
                raise self._bad("the last field is cut short (truncated?)")
            if number == _GRAPH_FIELD:
                self.has_graph = True
            if number != _METADATA_FIELD:
                self.covered.append(bytes(view[start:pos]))
        if not self.has_graph:
            raise self._bad("no graph")

    def _bad(self, what: str) -> ModelFormatError:
        return ModelFormatError(
            f"{self.where} is damaged or not an ONNX model ({what}): a truncated download, another kind of file "
            "saved under .onnx, or a file cut off while being written. Download it again or re-create it with "
            "`fer-edge export CKPT`"
        )

    def external_initializers(self) -> int:
        """How many of the graph's initializers keep their data in another file (``data_location = EXTERNAL``)."""
        count = 0
        for number, payload in _fields(self._graph, self.where) if self._graph is not None else ():
            if number == _INITIALIZER_FIELD and payload is not None:
                if any(n in (_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION) and (p is not None or v)
                       for n, p, v in _fields_with_values(payload, self.where)):
                    count += 1
        return count

    def card(self) -> Optional[ModelCard]:
        """The model's card (one rule: at most one card entry), or None when it carries none."""
        return card_from_metadata(self.metadata, where=self.where)


def _fields_with_values(view: memoryview, where: str):
    """(field number, length-delimited payload or None, varint value or 0) for each field of a message."""
    pos = 0
    while pos < len(view):
        tag, pos = _varint(view, pos, where)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(view, pos, where)
            yield number, None, value
        elif wire == 2:
            length, pos = _varint(view, pos, where)
            if length > len(view) - pos:
                raise ModelFormatError(f"{where} is not a valid ONNX model (a field cut short; truncated?)")
            yield number, view[pos : pos + length], 0
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield number, None, 0
        else:
            raise ModelFormatError(f"{where} is not a valid ONNX model (unsupported protobuf wire type {wire})")
    if pos > len(view):
        raise ModelFormatError(f"{where} is not a valid ONNX model (the last field is cut short)")


def _fields(view: memoryview, where: str):
    for number, payload, _ in _fields_with_values(view, where):
        yield number, payload


def _varint(view: memoryview, pos: int, where: str) -> Tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(view):
            raise ModelFormatError(f"{where} is not a valid ONNX model (cut short inside a number; truncated?)")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelFormatError(f"{where} is not a valid ONNX model (a malformed number)")


def _entry(view: memoryview, where: str) -> Tuple[str, str]:
    """Decode one StringStringEntryProto (key = field 1, value = field 2)."""
    key, value = "", ""
    pos = 0
    while pos < len(view):
        tag, pos = _varint(view, pos, where)
        if tag & 7 != 2:
            raise ModelFormatError(f"{where} has a malformed metadata entry; the file is damaged")
        length, pos = _varint(view, pos, where)
        if length > len(view) - pos:
            raise ModelFormatError(f"{where} has a metadata entry cut short; the file is damaged")
        try:
            text = bytes(view[pos : pos + length]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFormatError(f"{where} has a metadata entry that is not UTF-8 text; the file is damaged") from exc
        if tag >> 3 == 1:
            key = text
        elif tag >> 3 == 2:
            value = text
        pos += length
    return key, value


def sha256_file(path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (engines and weight files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_model_bytes(path) -> bytes:
    """The bytes of a model file, or a ModelFormatError saying why they cannot be read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ModelFormatError(f"{path} is not a regular file; pass the .onnx model file")
        if size > MAX_MODEL_BYTES:
            raise ModelFormatError(f"{path} is {size} bytes, larger than an ONNX file can be (2 GB)")
        with open(path, "rb") as fh:
            return fh.read()
    except ModelFormatError:
        raise
    except OSError as exc:  # missing, unreadable, a symlink loop, a directory...
        raise ModelFormatError(f"cannot read model file {path}: {exc.strerror or exc}") from exc


def integrity_digest(data: bytes, card: Union[ModelCard, str], where: str = "the model") -> str:
    """Hex sha256 over every top-level field of the serialized model except its metadata, then the card.

    The card enters as its stored JSON object without ``integrity``, keys sorted, compact: so a later fer-edge
    that adds card fields (with defaults) still verifies files sealed before.
    """
    parsed = data if isinstance(data, ModelBytes) else ModelBytes(data, where)
    h = hashlib.sha256(_DOMAIN)
    for chunk in parsed.covered:
        h.update(chunk)
    h.update(b"\0card\0")
    h.update(_canonical_card(card).encode("utf-8"))
    return h.hexdigest()


def _canonical_card(card: Union[ModelCard, str]) -> str:
    stored = json.loads(card.to_json() if isinstance(card, ModelCard) else card)
    stored.pop("integrity", None)
    return json.dumps(stored, sort_keys=True, separators=(",", ":"), allow_nan=False)


def integrity_record(data: bytes, card: ModelCard) -> Dict[str, Any]:
    """The ``card.integrity`` value for a model serialized as ``data`` carrying ``card``."""
    return {"algorithm": ALGORITHM, "scope": SCOPE, "digest": integrity_digest(data, card)}


def verify_integrity(parsed: ModelBytes, card: ModelCard) -> bool:
    """Check ``card.integrity`` against the model; False when the card carries no record.

    Raises:
        ModelFormatError: the record does not match (the file or its card changed after export), or it uses a
            scheme this fer_edge does not know.
    """
    record = card.integrity
    if not record:
        return False
    external = parsed.external_initializers()
    if external:
        raise ModelFormatError(
            f"{parsed.where} keeps {external} weight tensor(s) in other files (ONNX external data), which its "
            "integrity record cannot cover; fer_edge models are one self-contained file: re-save it with "
            "`fer_edge.engines.artifact.save_onnx`, or load it with check_integrity=False if you trust the side files"
        )
    known = record.get("algorithm") == ALGORITHM and record.get("scope") == SCOPE
    if not known or not isinstance(record.get("digest"), str):
        raise ModelFormatError(
            f"{parsed.where}: its card's integrity record {dict(record)!r} is of an unknown kind; upgrade fer-edge, "
            "or load it with check_integrity=False if you trust the file"
        )
    stored = [value for key, value in parsed.metadata if key == CARD_METADATA_KEY]
    digest = integrity_digest(parsed, stored[0] if len(stored) == 1 else card)
    if digest != record["digest"]:
        raise ModelFormatError(
            f"{parsed.where} failed its integrity check: the graph, weights or card changed after export "
            f"(sha256 {digest[:16]}... != recorded {str(record['digest'])[:16]}...). The file is damaged or was "
            "edited: re-export or re-download it; if you edited the graph on purpose, re-seal it with "
            "`fer_edge.engines.artifact.save_onnx` or load it with check_integrity=False"
        )
    return True


def _file_digest(parsed: ModelBytes) -> str:
    h = hashlib.sha256(_DOMAIN)
    for chunk in parsed.covered:
        h.update(chunk)
    h.update(b"\0metadata\0")
    others = sorted((k, v) for k, v in parsed.metadata if k != FILE_RECORD_KEY)
    h.update(json.dumps(others, separators=(",", ":")).encode("utf-8"))
    return h.hexdigest()


def file_integrity_record(data: bytes) -> str:
    """The ``fer_edge.integrity`` metadata value (JSON) for a model without a card, serialized as ``data``: a
    sha256 over every top-level field but the metadata, then the other metadata entries."""
    digest = _file_digest(data if isinstance(data, ModelBytes) else ModelBytes(data))
    return json.dumps({"algorithm": ALGORITHM, "scope": FILE_SCOPE, "digest": digest}, sort_keys=True)


def verify_file_integrity(parsed: ModelBytes) -> bool:
    """Check a card-less model's ``fer_edge.integrity`` entry; False when it has none.

    Raises:
        ModelFormatError: the entry does not match (the file changed after it was sealed) or is malformed.
    """
    values = [v for k, v in parsed.metadata if k == FILE_RECORD_KEY]
    if not values:
        return False
    try:
        if len(values) > 1:
            raise ValueError("more than one record")
        record = json.loads(values[0])
        ok = (record.get("algorithm") == ALGORITHM and record.get("scope") == FILE_SCOPE
              and isinstance(record.get("digest"), str))
    except (ValueError, AttributeError) as exc:
        raise ModelFormatError(
            f"{parsed.where}: its integrity record is malformed ({exc}); the file is damaged") from exc
    if not ok:
        raise ModelFormatError(f"{parsed.where}: its integrity record is of an unknown kind; upgrade fer-edge")
    digest = _file_digest(parsed)
    if digest != record["digest"]:
        raise ModelFormatError(
            f"{parsed.where} failed its integrity check (sha256 {digest[:16]}... != recorded "
            f"{record['digest'][:16]}...): the file is damaged or was edited; reinstall fer-edge or re-download it"
        )
    return True
