"""Default topic names and message types shared by the bag writer, the ROS 2 node and the live view."""

EXPRESSIONS_TOPIC = "/fer_edge/expressions"
ANNOTATIONS_TOPIC = "/fer_edge/annotations"

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
EXPRESSIONS_TYPE = "vision_msgs/msg/Detection2DArray"
ANNOTATIONS_TYPE = "foxglove_msgs/msg/ImageAnnotations"
