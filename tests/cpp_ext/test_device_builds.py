"""The device side builds without a GPU: nvcc for the card's architectures + PTX, and NVRTC (the pip path)."""

import re
import subprocess

import pytest

from fer_edge.preprocess.kernel_launchers import nvrtc_arch_options, nvrtc_compile, nvrtc_status
from fer_edge.preprocess.kernel_sources import include_dirs, kernel_path

WANTED = (72, 87, 89, 90, 110)  # the list; nvcc 13 dropped sm_72, nvcc 12 lacks sm_110


def nvcc_archs(nvcc):
    out = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=True).stdout
    return sorted(int(m) for m in re.findall(r"compute_(\d+)", out))


def nvcc_major(nvcc):
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"release (\d+)\.", out).group(1))


def test_nvcc_compiles_every_supported_architecture_plus_ptx(nvcc, tmp_path):
    known = nvcc_archs(nvcc)
    archs = [a for a in WANTED if a in known]
    assert archs, f"nvcc knows none of {WANTED} (it lists {known})"
    if nvcc_major(nvcc) >= 13:
        assert 72 not in known, "nvcc 13 was documented as unable to target sm_72; cpp_ext/README.md must change"
        assert {87, 89, 90, 110} <= set(archs)
    ptx = min(known) if 72 not in known else 72
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    gencode.append(f"-gencode=arch=compute_{ptx},code=compute_{ptx}")
    obj = tmp_path / "preprocess.o"
    cmd = [nvcc, "-c", "-std=c++14", "-fmad=false", "-Xcompiler", "-ffp-contract=off", "-Werror", "all-warnings",
           *(f"-I{d}" for d in include_dirs()), *gencode, str(kernel_path()), "-o", str(obj)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert obj.stat().st_size > 0


def test_nvrtc_compiles_the_shipped_source():
    ok, why = nvrtc_status()
    if not ok:
        pytest.skip(f"NVRTC not loadable here ({why}); pip install nvidia-cuda-nvrtc")
    cubin = nvrtc_compile("sm_87", "cubin")
    assert cubin[:4] == b"\x7fELF" and b"fer_preprocess_kernel" in cubin
    ptx = nvrtc_compile("compute_75", "ptx")
    assert b".entry fer_preprocess_kernel" in ptx
    assert b"fma.rn.f32" not in ptx  # no fused multiply-adds: same rounding as the float32 reference


def test_arch_choice_for_run_time_compiles():
    assert nvrtc_arch_options((8, 7), ["75", "87", "90"]) == ("sm_87", "cubin")
    assert nvrtc_arch_options((12, 1), ["75", "87", "90"]) == ("compute_90", "ptx")  # newer GPU: PTX, driver JITs
    from fer_edge.cuda.base import CudaError

    with pytest.raises(CudaError, match="build the kernel on the device"):
        nvrtc_arch_options((5, 3), ["75", "87"])  # Jetson Nano with a CUDA 13 NVRTC


def test_cmake_builds_and_installs_both_libraries(tmp_path):
    """`make cpp_ext`'s CMake project: host library always, device library when nvcc is there; both load."""
    import shutil

    from fer_edge.preprocess.kernel_launchers import SharedLibraryKernel
    from fer_edge.preprocess.kernel_sources import kernel_root

    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not installed")
    has_nvcc = shutil.which("nvcc") is not None
    build, install = tmp_path / "build", tmp_path / "lib"
    configure = subprocess.run([cmake, "-S", str(kernel_root()), "-B", str(build), f"-DFER_INSTALL_DIR={install}",
                                f"-DFER_BUILD_CUDA={'ON' if has_nvcc else 'OFF'}"], capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    for step in (["--build", str(build), "-j2"], ["--install", str(build)]):
        done = subprocess.run([cmake, *step], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not SharedLibraryKernel(install / "libfer_edge_preproc_host.so").device
    if has_nvcc:
        assert SharedLibraryKernel(install / "libfer_edge_preproc.so").device  # loads without a GPU (static cudart)
        if nvcc_major(shutil.which("nvcc")) >= 13:
            assert "87-real;89-real;90-real;110-real;75-virtual" in configure.stdout
