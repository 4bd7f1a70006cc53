"""Pack FER+ for a GPU machine as one xz file small enough to travel with the working tree (64 MiB in all).

    python tools/pack_gpu_data.py ../shared/data/ferplus.npz out/gpu/ferplus_trainval.npz.xz
        FER+ train + val with votes (no test: teachers never see it), ≈ 54 MB
    python tools/pack_gpu_data.py ../shared/data/ferplus.npz out/gpu/fer2013.npz.xz --fer2013
        the same images, all three splits, with the original FER2013 labels only (the Ad-Corre headline run,
        tools/adcorre_fer2013_gpu.sh); PublicTest selects, PrivateTest is reported once
The GPU side unpacks with `xz -dk` (tools/gpu_check.sh does). The two files do not fit in one call together.
"""

import argparse
import io
import logging
import lzma
import sys
from pathlib import Path

import numpy as np


def ferplus_trainval(data) -> dict:
    arrays = {f"{k}_{s}": data[f"{k}_{s}"] for s in ("train", "val") for k in ("x", "y", "votes")}
    arrays.update({k: data[k] for k in ("class_names", "vote_names", "leak_val") if k in data})
    return arrays


def fer2013(data) -> dict:
    arrays = {f"{k}_{s}": data[f"{k}_{s}"] for s in ("train", "val", "test")
              for k in ("x", "y", "fer2013_y", "leak") if f"{k}_{s}" in data}
    arrays.update({k: data[k] for k in ("class_names", "fer2013_class_names")})
    return arrays


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="ferplus.npz (fer-edge data ferplus)")
    ap.add_argument("dst", help="output .npz.xz")
    ap.add_argument("--fer2013", action="store_true", help="all splits with the FER2013 labels, no votes")
    args = ap.parse_args(argv)
    data = np.load(args.src, allow_pickle=False)
    arrays = fer2013(data) if args.fer2013 else ferplus_trainval(data)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out = Path(args.dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as fh:
        fh.write(buf.getvalue())
    tmp.replace(out)
    counts = ", ".join(f"{k[2:]} {len(v)}" for k, v in arrays.items() if k.startswith("x_"))
    logging.info("%s: %.1f MB (%s images)", out, out.stat().st_size / 1e6, counts)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
