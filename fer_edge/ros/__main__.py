"""``python -m fer_edge.ros``: run the ROS 2 node (same as ``fer-edge-ros``)."""

import sys

from .node import main

if __name__ == "__main__":
    sys.exit(main())
