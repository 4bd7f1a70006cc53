"""ROS 2 integration: bags in and out (``fer-edge predict x.mcap``), a ROS 2 node (``fer-edge-ros``), live view.

Everything here needs the ``[ros]`` extra (``rosbags``, ``mcap``, ``foxglove-sdk``); the node also needs ``rclpy``
from a ROS 2 install. Modules import their dependencies lazily so ``import fer_edge.ros`` always works.
"""

from .topics import ANNOTATIONS_TOPIC, EXPRESSIONS_TOPIC

__all__ = ["ANNOTATIONS_TOPIC", "EXPRESSIONS_TOPIC"]
