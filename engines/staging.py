"""Publish a folder of generated files all-or-nothing: build in a staging folder, then rename entries into place.

The Triton and DeepStream exports write several files that only make sense together; a failure half-way must
leave the destination as it was, never a config without its model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from fer_edge.errors import InvalidInputError


def check_destination(dest, force: bool, what: str = "output folder") -> Path:
    """Refuse a destination that is a file, or a non-empty folder unless ``force``."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise InvalidInputError(f"The {what} {dest} exists and is not a folder; pass a folder path")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InvalidInputError(
            f"The {what} {dest} exists and is not empty; pass --force (force=True) to replace the entries this "
            "export writes, or choose an empty folder"
        )
    return dest


@contextlib.contextmanager
def staged_folder(dest, force: bool = False, what: str = "output folder") -> Iterator[Path]:
    """Yield an empty staging folder beside ``dest``; on success its entries replace same-named ones in ``dest``.

    Entries of ``dest`` that the export does not write are kept. On any exception nothing in ``dest`` changes.
    """
    dest = check_destination(dest, force, what)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=str(dest.parent), prefix=f".{dest.name}.staging-"))
    try:
        yield staging
        dest.mkdir(exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            old = None
            if target.exists() or target.is_symlink():
                old = staging.parent / f".{dest.name}.{entry.name}.old-{os.getpid()}"
                os.replace(target, old)
            os.replace(entry, target)
            if old is not None:
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
