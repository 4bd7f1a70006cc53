"""Write the demo photo for `make demo`: the public-domain astronaut portrait shipped with scikit-image.

(The short-range BlazeFace default is built for faces that fill a good part of the frame; for group photos and
far faces use `--detector blazeface_full`.)
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
