"""Pack FER+ train + val (no test: teachers never see it) as one xz file small enough to travel to a GPU machine.

    python tools/pack_gpu_data.py ../shared/data/ferplus.npz out/gpu/ferplus_trainval.npz.xz
The GPU side unpacks it with `xz -dk` (tools/gpu_check.sh does).
"""

import io
import logging
import lzma
import sys
from pathlib import Path

import numpy as np

KEYS = ("x_{s}", "y_{s}", "votes_{s}")
SHARED = ("class_names", "vote_names")


def main(src: str, dst: str) -> int:
    data = np.load(src, allow_pickle=False)
    arrays = {k.format(s=s): data[k.format(s=s)] for s in ("train", "val") for k in KEYS}
    arrays.update({k: data[k] for k in SHARED})
    if "leak_val" in data:
        arrays["leak_val"] = data["leak_val"]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as fh:
        fh.write(buf.getvalue())
    tmp.replace(out)
    logging.info("%s: %.1f MB (train %d, val %d images)", out, out.stat().st_size / 1e6,
                 len(arrays["y_train"]), len(arrays["y_val"]))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main(*sys.argv[1:3]))
