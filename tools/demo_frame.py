"""Write a demo frame for `make demo`: the public-domain astronaut photo (scikit-image) on a 960x540 canvas."""

import logging
import sys
from pathlib import Path

import cv2
import numpy as np


def demo_frame() -> np.ndarray:
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((540, 960, 3), 90, np.uint8)
    canvas[14:526, 40:552] = face
    small = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA)
    canvas[150:406, 640:896] = cv2.flip(small, 1)
    return canvas


def main(out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), demo_frame())
    logging.getLogger("demo").info("wrote %s", path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(sys.argv[1] if len(sys.argv) > 1 else "out/demo/people.jpg")
