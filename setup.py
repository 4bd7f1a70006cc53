"""Packaging: trainers/, engines/ and calibration/ install as fer_edge.trainers/.engines/.calibration.

The remap keeps generic top-level names out of site-packages (DESIGN.md §2). The CUDA preprocessing kernel's
source (cpp_ext/include, cpp_ext/src) ships as fer_edge/_kernels/ so NVRTC compiles it at run time; setup.py
never compiles CUDA (`make cpp_ext` does, into fer_edge/_lib/, which then ships too).
"""

import re
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
TOOL_DIRS = {"trainers": "fer_edge.trainers", "engines": "fer_edge.engines", "calibration": "fer_edge.calibration"}


def _packages():
    package_dir = {"fer_edge": "fer_edge"}
    packages = ["fer_edge"] + [f"fer_edge.{p}" for p in find_packages("fer_edge")]
    for folder, name in TOOL_DIRS.items():
        package_dir[name] = folder
        packages.append(name)
        for sub in find_packages(folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


def _version():
    text = (ROOT / "fer_edge" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


class BuildPyWithKernels(build_py):
    """Copy the one kernel source (cpp_ext/include + cpp_ext/src) into the built package as fer_edge/_kernels/."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "fer_edge" / "_kernels"
        for part in ("include", "src"):
            src = ROOT / "cpp_ext" / part
            if src.is_dir():
                shutil.copytree(src, target / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.o", "*.so"))


PACKAGES, PACKAGE_DIR = _packages()
RUNTIME = ["numpy>=1.20", "opencv-python-headless>=4.5", "onnxruntime>=1.14"]
EXTRAS = {
    "train": ["torch>=2.1", "tqdm", "pyyaml"],
    "export": ["onnx>=1.14", "onnxsim>=0.4", "onnxruntime>=1.17"],
    "modelopt": ["nvidia-modelopt"],
    "trt": ["tensorrt"],
    "cuda": ["cuda-python>=12"],
    "pycuda": ["pycuda"],
    "plot": ["matplotlib"],
    "nvrtc": ["nvidia-cuda-nvrtc"],  # the NVRTC library on desktops (JetPack ships its own)
    "serve": ["tritonclient[http,grpc]>=2.40"],
    # Read ROS 1/2 bags, write MCAP (the node itself needs rclpy from ROS 2); --foxglove live view. Both need
    # Python >= 3.10 (rosbags, foxglove-sdk), so older interpreters skip them instead of failing '[all]'.
    "ros": ['rosbags>=0.10; python_version >= "3.10"', "mcap>=1.1"],
    "foxglove": ['foxglove-sdk>=0.14; python_version >= "3.10"'],
    "dev": ["pytest>=7", "pytest-benchmark", "hypothesis", "ruff", "scikit-image", "build", "wheel", "setuptools>=64",
            "tqdm", "pyyaml",
            # ROS bag and live-view tests: the [ros] and [foxglove] extras plus an independent MCAP decoder and a
            # WebSocket client.
            "rosbags>=0.10", "mcap>=1.1", "mcap-ros2-support", "foxglove-sdk>=0.14", "websockets",
            "nvidia-cuda-nvrtc",  # NVRTC compile test of the preprocessing kernel
            # dlib itself (prebuilt wheel) for the dlib_resnet parity tests against compute_face_descriptor
            'dlib-bin; platform_system == "Linux" and platform_machine == "x86_64"'],
}
OPT_IN = ("trt", "pycuda", "modelopt", "nvrtc")
EXTRAS["all"] = sorted({d for k, deps in EXTRAS.items() if k not in OPT_IN for d in deps})

setup(
    name="fer-edge",
    version=_version(),
    description="Facial expression recognition for robots and cameras: train, export, quantize, run on CPU/GPU/Jetson.",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.8",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    package_data={"fer_edge": ["assets/*.onnx", "assets/*.json", "assets/LICENSE*", "_lib/*.so",
                               "ros/launch/*.py"],
                  "fer_edge.engines": ["templates/*.py"]},
    include_package_data=False,
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["fer-edge=fer_edge.cli:main", "fer-edge-ros=fer_edge.ros.node:main"]},
    cmdclass={"build_py": BuildPyWithKernels},
)
