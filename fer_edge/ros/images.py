"""``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` → BGR uint8 frames (and BGR frames → ``Image``).

Works on any object with the messages' field names (rosbags dataclasses, rclpy messages). Rows may be padded
(``step`` > width × bytes per pixel); 16-bit images are scaled to 8 bits; an encoding this module does not know
raises InvalidInputError naming the ones it does.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

import cv2
import numpy as np

from ..errors import InvalidInputError

# encoding → (channels, dtype, conversion to BGR or None)
_PACKED: Dict[str, tuple] = {
    "bgr8": (3, np.uint8, None),
    "8uc3": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "8uc4": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8uc1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "16uc1": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "bgr16": (3, np.uint16, None),
    "rgb16": (3, np.uint16, cv2.COLOR_RGB2BGR),
    "bgra16": (4, np.uint16, cv2.COLOR_BGRA2BGR),
    "rgba16": (4, np.uint16, cv2.COLOR_RGBA2BGR),
}
# 4:2:2 packed, two bytes per pixel: ROS "yuv422" is UYVY, "yuv422_yuy2" is YUYV.
_YUV422 = {"yuv422": cv2.COLOR_YUV2BGR_UYVY, "uyvy": cv2.COLOR_YUV2BGR_UYVY, "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
           "yuyv": cv2.COLOR_YUV2BGR_YUY2}
# 4:2:0 semi-planar: a full-resolution Y plane, then interleaved chroma at half resolution.
_YUV420SP = {"nv12": cv2.COLOR_YUV2BGR_NV12, "nv21": cv2.COLOR_YUV2BGR_NV21}

SUPPORTED_ENCODINGS = tuple(sorted(_PACKED)) + tuple(sorted(_YUV422)) + tuple(sorted(_YUV420SP))


def _buffer(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (list, tuple)):  # older rclpy versions hand uint8[] over as a list of ints
        return np.asarray(data, np.uint8)
    return np.frombuffer(memoryview(data).cast("B"), np.uint8)  # bytes, bytearray, array.array('B')


def _rows(msg: Any, row_bytes: int, rows: int) -> np.ndarray:
    """The first ``rows`` rows of ``row_bytes`` from the message's data, honouring ``step`` (row padding)."""
    data = _buffer(msg.data)
    step = int(msg.step) or row_bytes
    if step < row_bytes:
        raise InvalidInputError(
            f"image step {step} is smaller than a row of {msg.width} px ({row_bytes} bytes) for '{msg.encoding}'"
        )
    if data.size < step * (rows - 1) + row_bytes:
        raise InvalidInputError(
            f"image data holds {data.size} bytes, a {msg.width}x{msg.height} '{msg.encoding}' image with step {step} "
            f"needs {step * (rows - 1) + row_bytes}; the message is truncated"
        )
    if data.size < step * rows:
        data = np.concatenate([data, np.zeros(step * rows - data.size, np.uint8)])
    return data[: step * rows].reshape(rows, step)[:, :row_bytes]


def bgr_from_image(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a contiguous HxWx3 BGR uint8 array."""
    encoding = str(msg.encoding).strip().lower()
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"image message is {width}x{height}; nothing to decode")
    if encoding in _PACKED:
        channels, dtype, code = _PACKED[encoding]
        size = np.dtype(dtype).itemsize
        rows = _rows(msg, width * channels * size, height)
        pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
        if size == 2:
            if bool(msg.is_bigendian) != (np.little_endian is False):
                pixels = pixels.byteswap()
            pixels = (pixels >> 8).astype(np.uint8)
        if code is not None:
            pixels = cv2.cvtColor(pixels, code)
        return np.ascontiguousarray(pixels.reshape(height, width, 3))
    if encoding in _YUV422:
        rows = _rows(msg, width * 2, height)
        return cv2.cvtColor(np.ascontiguousarray(rows).reshape(height, width, 2), _YUV422[encoding])
    if encoding in _YUV420SP:
        if width % 2 or height % 2:
            raise InvalidInputError(f"'{encoding}' needs an even width and height, got {width}x{height}")
        rows = _rows(msg, width, height * 3 // 2)
        return cv2.cvtColor(np.ascontiguousarray(rows), _YUV420SP[encoding])
    raise InvalidInputError(
        f"unsupported image encoding '{msg.encoding}'; fer-edge decodes {', '.join(SUPPORTED_ENCODINGS)} and "
        "CompressedImage (jpeg/png). Republish the topic in one of them (e.g. image_transport/image_proc)"
    )


def bgr_from_compressed(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, anything OpenCV reads) into HxWx3 BGR uint8."""
    fmt = str(getattr(msg, "format", "")).lower()
    if "compresseddepth" in fmt:
        raise InvalidInputError(
            f"CompressedImage format '{msg.format}' is a depth image; fer-edge needs a colour or gray camera topic"
        )
    data = _buffer(msg.data)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InvalidInputError(
            f"could not decode a CompressedImage ({data.size} bytes, format '{msg.format}'); the data is damaged "
            "or not an image format OpenCV reads (jpeg, png)"
        )
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    # "rgb8; jpeg compressed bgr8" (image_transport) stores the JPEG in BGR order; OpenCV already returns BGR.
    return np.ascontiguousarray(image)


def bgr_from_msg(msg: Any) -> np.ndarray:
    """Decode either image message type (told apart by its fields: ``format`` vs ``encoding``)."""
    if hasattr(msg, "encoding") and hasattr(msg, "width"):
        return bgr_from_image(msg)
    if hasattr(msg, "format"):
        return bgr_from_compressed(msg)
    raise InvalidInputError(
        f"a {type(msg).__name__} is not an image message; pass sensor_msgs/Image or sensor_msgs/CompressedImage"
    )


def image_msg(make: Callable[..., Any], header: Any, bgr: np.ndarray, encoding: str = "bgr8") -> Any:
    """Build a ``sensor_msgs/Image`` from a BGR frame with ``make`` (the Image class); for tests and tools.

    Args:
        make: the message class (rosbags dataclass or rclpy class).
        header: its header.
        bgr: HxWx3 BGR uint8.
        encoding: bgr8, rgb8, mono8, bgra8, yuv422 (UYVY), yuv422_yuy2 or nv12.
    """
    h, w = bgr.shape[:2]
    enc = encoding.lower()
    if enc == "bgr8":
        pixels = bgr
    elif enc == "rgb8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif enc == "mono8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif enc == "bgra8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    elif enc in ("nv12", "yuv422", "yuv422_yuy2"):
        i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # Y plane, then U and V planes at quarter size
        y = i420[:h]
        u = i420[h: h + h // 4].reshape(h // 2, w // 2)
        v = i420[h + h // 4:].reshape(h // 2, w // 2)
        if enc == "nv12":
            uv = np.stack([u, v], axis=-1).reshape(h // 2, w)
            pixels = np.concatenate([y, uv], axis=0)
        else:
            u2, v2 = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)  # 4:2:0 → 4:2:2 by repeating chroma rows
            yy = y.reshape(h, w // 2, 2)
            if enc == "yuv422":  # UYVY
                pixels = np.stack([u2, yy[..., 0], v2, yy[..., 1]], axis=-1).reshape(h, w * 2)
            else:  # YUYV
                pixels = np.stack([yy[..., 0], u2, yy[..., 1], v2], axis=-1).reshape(h, w * 2)
    else:
        raise InvalidInputError(f"image_msg cannot encode '{encoding}'")
    pixels = np.ascontiguousarray(pixels)
    step = pixels.reshape(pixels.shape[0], -1).shape[1]  # bytes per row (uint8 data)
    return make(header=header, height=h, width=w, encoding=enc, is_bigendian=0, step=step,
                data=pixels.reshape(-1).copy())
