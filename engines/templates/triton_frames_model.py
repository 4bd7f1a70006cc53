"""Triton Python-backend model written by `fer-edge export-triton`: a camera frame in, faces out.

Runs ``fer_edge.Recognizer`` (face detector + the card's preprocessing + the classifier file beside this one),
so clients send a frame instead of a preprocessed tensor. Send exactly one input per request:
IMAGE (encoded JPEG/PNG bytes as a UINT8 vector) or FRAME (raw HxWxC uint8, C = 1 gray, 3 BGR, 4 BGRA).
Outputs, largest face first: BOXES (N, 4) x1 y1 x2 y2 pixels, SCORES (N,) detector scores, LABELS (N,) bytes,
PROBABILITIES (N, classes) in the card's label order. fer-edge must be importable in the backend's Python.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


def _parameter(model_config, key, default=None):
    value = model_config.get("parameters", {}).get(key, {}).get("string_value")
    return default if value in (None, "") else value


class TritonPythonModel:
    """One Recognizer per model instance; each request is one frame."""

    def initialize(self, args):
        model_config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / str(args["model_version"])
        try:
            import cv2

            from fer_edge import Recognizer
        except ImportError as exc:
            raise pb_utils.TritonModelException(
                f"the frames model needs fer-edge in the Python backend's environment ({exc}); "
                "pip install fer-edge there (numpy<2 for Triton releases whose backend stub predates numpy 2)"
            ) from exc
        self._cv2 = cv2
        if int(np.__version__.split(".")[0]) >= 2:
            pb_utils.Logger.log_warn(
                f"numpy {np.__version__} in the Python backend: Triton releases whose backend stub predates numpy 2 "
                "(measured: 2.44 and 2.51) corrupt input tensors and return empty outputs ('output tensor shape "
                "does not match size of output'); if answers look like that, install numpy<2 in this environment"
            )
        classifier = folder / _parameter(model_config, "classifier", "classifier.onnx")
        threads = int(_parameter(model_config, "threads", "1"))
        providers = None
        if args.get("model_instance_kind", "CPU") != "GPU" and classifier.suffix == ".onnx":
            providers = ["CPUExecutionProvider"]
        self.recognizer = Recognizer(
            classifier, detector=_parameter(model_config, "detector", "blazeface"), threads=threads,
            providers=providers,
        )
        self.labels = tuple(self.recognizer.card.labels)
        pb_utils.Logger.log_info(
            f"{args.get('model_name', 'frames model')}: Recognizer ready ({self.recognizer!r})"
        )

    def _frame(self, request):
        image = pb_utils.get_input_tensor_by_name(request, "IMAGE")
        frame = pb_utils.get_input_tensor_by_name(request, "FRAME")
        if (image is None) == (frame is None):
            raise ValueError("send exactly one input: IMAGE (encoded JPEG/PNG bytes) or FRAME (HxWxC uint8)")
        if frame is not None:
            return np.ascontiguousarray(frame.as_numpy())
        data = np.ascontiguousarray(image.as_numpy(), dtype=np.uint8).reshape(-1)
        decoded = self._cv2.imdecode(data, self._cv2.IMREAD_COLOR) if data.size else None
        if decoded is None:
            raise ValueError(f"IMAGE ({data.size} bytes) is not an image OpenCV can decode (JPEG, PNG, ...)")
        return decoded

    def _outputs(self, faces):
        n = len(faces)
        boxes = np.array([f.box for f in faces], dtype=np.float32).reshape(n, 4)
        scores = np.array([f.score for f in faces], dtype=np.float32).reshape(n)
        labels = np.array([f.label.encode("utf-8") for f in faces], dtype=np.object_).reshape(n)
        probs = np.array([[f.probs[k] for k in self.labels] for f in faces], dtype=np.float32)
        probs = probs.reshape(n, len(self.labels))
        return [
            pb_utils.Tensor("BOXES", boxes),
            pb_utils.Tensor("SCORES", scores),
            pb_utils.Tensor("LABELS", labels),
            pb_utils.Tensor("PROBABILITIES", probs),
        ]

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                faces = self.recognizer.predict(self._frame(request))
                responses.append(pb_utils.InferenceResponse(output_tensors=self._outputs(faces)))
            except Exception as exc:  # one bad request answers with its error; the others still get results
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError(f"{type(exc).__name__}: {exc}")))
        return responses

    def finalize(self):
        self.recognizer.close()
