"""Write the demo photo for `make demo`: the public-domain astronaut portrait shipped with scikit-image.

(The default YuNet detector finds faces from about 1/10 of the frame up to close-ups; for people far from the
camera use `--detector yunet_far`, docs/detector.md.)
"""

import logging
import sys
from pathlib import Path

import cv2


def main(out: str) -> None:
    from skimage import data

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    logging.getLogger("demo").info("wrote %s", path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(sys.argv[1] if len(sys.argv) > 1 else "out/demo/astronaut.jpg")
