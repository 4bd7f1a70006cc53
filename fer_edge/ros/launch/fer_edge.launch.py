"""ROS 2 launch file for the fer_edge node: ``ros2 launch $(fer-edge-ros --launch-file) image_topic:=/cam/image``.

Starts the pip-installed ``fer-edge-ros`` executable (fer-edge is a pip package, not a colcon package, so
``launch_ros.actions.Node(package=...)`` cannot find it) with the node's parameters as launch arguments.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

# name -> (default, description); the same parameters as fer_edge.ros.node.NodeParams.
ARGUMENTS = {
    "model": ("default", "classifier .onnx/.engine path, or default (the bundled model)"),
    "detector": ("default", "face detector name (see fer-edge predict --help), default, or none for face crops"),
    "threads": ("0", "CPU threads for inference (0 = automatic)"),
    "detect_every": ("1", "run the face detector every N frames, track in between"),
    "smoothing": ("ema", "ema, window or none"),
    "tracking": ("true", "false = raw per-frame faces"),
    "image_topic": ("/camera/image_raw", "camera topic (sensor_msgs/Image or CompressedImage)"),
    "image_transport": ("auto", "raw, compressed, or auto (compressed when the topic ends in /compressed)"),
    "expressions_topic": ("/fer_edge/expressions", "vision_msgs/Detection2DArray output"),
    "annotations_topic": ("/fer_edge/annotations", "foxglove_msgs/ImageAnnotations output"),
}


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=text)
                for name, (default, text) in ARGUMENTS.items()]
    cmd = ["fer-edge-ros", "--ros-args"]
    for name in ARGUMENTS:
        cmd += ["-p", [f"{name}:=", LaunchConfiguration(name)]]
    return LaunchDescription(declared + [ExecuteProcess(cmd=cmd, output="screen", name="fer_edge")])
