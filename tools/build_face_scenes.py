"""Build frames with faces pasted at known sizes and places, plus their truth CSV, for `fer-edge eval-detector`.

A robot sees a face at 30 cm (filling the frame) and a person at 5 m (~20 px in 640x480); labelled photos rarely
cover that range. This pastes hand-labelled faces (skimage's public-domain astronaut, mirrored and re-lit; plus
the labelled faces of ../shared/data/frames when present) onto skimage background photos at face sizes from 20
to 400 px, at seeded random places, in 640x480 and 1280x720 frames, and writes ``truth.csv``
(image,x1,y1,x2,y2,source) beside them. Faces from the labelled photos are never enlarged more than 2.5x.

    python tools/build_face_scenes.py out/scenes [--frames ../shared/data/frames]
    fer-edge eval-detector out/scenes --truth out/scenes/truth.csv
"""

from __future__ import annotations

import argparse
import csv
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

log = logging.getLogger("build_face_scenes")

#: Face sizes (px, labelled box side); 480 and 560 are close-ups cut by a 640x480 frame's edges.
FACE_SIZES = (20, 24, 28, 32, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300, 350, 400, 480, 560)
FRAME_SIZES = ((640, 480), (1280, 720))
#: Hand-labelled face of skimage's astronaut (brow line to chin, cheek to cheek), x1, y1, x2, y2.
ASTRONAUT_FACE = (180.0, 78.0, 266.0, 164.0)
CONTEXT = 2.0  # pasted patch side = this x the face side (hair, neck and shoulders come along)
FRAMES_CONTEXT = 1.5  # tighter for the group photos, so that neighbours' faces stay out of the patch
MAX_UPSCALE_FRAMES = 2.5


@dataclass(frozen=True)
class FaceSource:
    """A face to paste: the image, its labelled box, how much context to take and the largest useful size."""

    name: str
    image: np.ndarray
    box: Tuple[float, float, float, float]
    context: float
    max_side: float

    def patch(self, side: float) -> Tuple[np.ndarray, np.ndarray]:
        """The face scaled so its box is ``side`` px wide: (patch, face box within the patch)."""
        x1, y1, x2, y2 = self.box
        face = max(x2 - x1, y2 - y1)
        k = side / face
        half = face * self.context * 0.5
        cx, cy = (x1 + x2) * 0.5, (y1 + y2) * 0.5
        out = int(round(2 * half * k))
        affine = np.array([[k, 0, -(cx - half) * k], [0, k, -(cy - half) * k]], np.float32)
        interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
        patch = cv2.warpAffine(self.image, affine, (out, out), flags=interp, borderMode=cv2.BORDER_REFLECT)
        box = np.array([(x1 - cx + half) * k, (y1 - cy + half) * k, (x2 - cx + half) * k, (y2 - cy + half) * k])
        return patch, box


def astronaut_sources() -> List[FaceSource]:
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    w = img.shape[1]
    x1, y1, x2, y2 = ASTRONAUT_FACE
    mirrored = (w - x2, y1, w - x1, y2)
    dim = cv2.convertScaleAbs(img, alpha=0.55, beta=10)
    gray = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    big = float("inf")
    return [FaceSource("astronaut", img, ASTRONAUT_FACE, CONTEXT, big),
            FaceSource("astronaut_mirrored", img[:, ::-1].copy(), mirrored, CONTEXT, big),
            FaceSource("astronaut_dim", dim, ASTRONAUT_FACE, CONTEXT, big),
            FaceSource("astronaut_gray", gray, ASTRONAUT_FACE, CONTEXT, big)]


def frame_sources(folder: Path) -> List[FaceSource]:
    """The labelled faces of a dlib imglab ``training.xml`` in ``folder``."""
    out = []
    for image in ET.parse(str(folder / "training.xml")).getroot().iter("image"):
        img = cv2.imread(str(folder / image.get("file")))
        if img is None:
            continue
        for i, b in enumerate(image.iter("box")):
            x, y, bw, bh = (float(b.get(k)) for k in ("left", "top", "width", "height"))
            out.append(FaceSource(f"{image.get('file')}#{i}", img, (x, y, x + bw, y + bh), FRAMES_CONTEXT,
                                  MAX_UPSCALE_FRAMES * max(bw, bh)))
    return out


def backgrounds(size: Tuple[int, int]) -> List[np.ndarray]:
    from skimage import data

    w, h = size
    photos = [data.coffee(), data.rocket(), data.chelsea(), data.immunohistochemistry()]
    return [cv2.resize(cv2.cvtColor(p, cv2.COLOR_RGB2BGR), (w, h), interpolation=cv2.INTER_AREA) for p in photos]


def _place(rng, frame_wh, patch_side: int, taken: List[np.ndarray]) -> Optional[Tuple[int, int]]:
    """A top-left corner where the patch fits in the frame and overlaps no earlier patch (None if none found)."""
    w, h = frame_wh
    if patch_side > min(w, h):
        return None
    for _ in range(50):
        x, y = int(rng.integers(0, w - patch_side + 1)), int(rng.integers(0, h - patch_side + 1))
        box = np.array([x, y, x + patch_side, y + patch_side])
        if all(box[0] >= t[2] or box[2] <= t[0] or box[1] >= t[3] or box[3] <= t[1] for t in taken):
            return x, y
    return None


def build_scenes(out_dir, frames_dir: Optional[Path] = None, seed: int = 0, face_sizes: Sequence[int] = FACE_SIZES,
                 frame_sizes: Sequence[Tuple[int, int]] = FRAME_SIZES, frames_per_size: int = 2,
                 faces_per_frame: int = 4) -> Path:
    """Write the scenes into ``out_dir`` and return the path of their ``truth.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = astronaut_sources() + (frame_sources(frames_dir) if frames_dir else [])
    rows = []
    n = 0
    for fw, fh in frame_sizes:
        bgs = backgrounds((fw, fh))
        for side in face_sizes:
            usable = [s for s in sources if s.max_side >= side]
            for k in range(frames_per_size):
                frame = bgs[(n + k) % len(bgs)].copy()
                taken: List[np.ndarray] = []
                name = f"scene_{fw}x{fh}_{side:03d}px_{k}.png"
                for _ in range(faces_per_frame):
                    source = usable[int(rng.integers(len(usable)))]
                    patch, box = source.patch(side)
                    p = patch.shape[0]
                    if p > min(fw, fh):  # a close-up: crop the patch around the face to fit the frame
                        c = int(round((box[1] + box[3]) / 2 - min(fw, fh) / 2))
                        c = min(max(c, 0), p - min(fw, fh))
                        patch = patch[c:c + min(fw, fh), c:c + min(fw, fh)]
                        box = box - [c, c, c, c]
                        p = patch.shape[0]
                    where = _place(rng, (fw, fh), p, taken)
                    if where is None:
                        break
                    x, y = where
                    frame[y:y + p, x:x + p] = patch
                    taken.append(np.array([x, y, x + p, y + p]))
                    rows.append([name, *(round(float(v), 1) for v in box + [x, y, x, y]), source.name])
                cv2.imwrite(str(out / name), frame)
                n += 1
    truth = out / "truth.csv"
    with open(truth, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "x1", "y1", "x2", "y2", "source"])
        writer.writerows(rows)
    log.info("wrote %d frames with %d faces and %s", n, len(rows), truth)
    return truth


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="folder for the frames and truth.csv")
    p.add_argument("--frames", type=Path, help="folder with training.xml (e.g. ../shared/data/frames): more faces")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-size", type=int, default=2, help="frames per face size and frame size (default 2)")
    p.add_argument("--frame-size", action="append", metavar="WxH",
                   help="frame size, repeatable (default 640x480 and 1280x720)")
    args = p.parse_args()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.frame_size] if args.frame_size else FRAME_SIZES
    build_scenes(args.out, args.frames, seed=args.seed, frames_per_size=args.per_size, frame_sizes=sizes)


if __name__ == "__main__":
    main()
