"""The kernel's host build (g++, compiled once per session into a temp folder) and the nvcc toolchain probe."""

import shutil
import subprocess

import pytest

from fer_edge.preprocess.kernel_launchers import SharedLibraryKernel
from fer_edge.preprocess.kernel_sources import build_host_library


@pytest.fixture(scope="session")
def host_kernel(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed: the kernel's host build cannot be compiled")
    try:
        path = build_host_library(tmp_path_factory.mktemp("cpp_ext") / "libfer_edge_preproc_host.so",
                                  extra_flags=("-Werror",))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the host build of cpp_ext/src/preprocess.cu does not compile:\n{exc.stderr}")
    return SharedLibraryKernel(path)


@pytest.fixture(scope="session")
def nvcc():
    exe = shutil.which("nvcc")
    if exe is None:
        pytest.skip("nvcc not installed (CI has it): the device build is not checked here")
    return exe
