"""The dataset readers moved to the runtime (``fer_edge.datasets``: numpy + OpenCV only, so evaluation and
calibration read data without torch). This module keeps the old import path working; new code imports
``fer_edge.datasets``.
"""

from fer_edge.datasets import *  # noqa: F401,F403
from fer_edge.datasets import __all__  # noqa: F401
from fer_edge.datasets.ferplus import read_fer2013_rows as _read_fer2013_rows  # noqa: F401
