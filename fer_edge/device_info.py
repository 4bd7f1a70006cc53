"""Device fingerprint for benchmark reports: CPU, OS, library versions, GPU, CUDA, TensorRT, Jetson L4T/JetPack/power.

Every probe takes its file paths and a command runner as arguments, so tests feed fake ``/etc/nv_tegra_release``,
``nvpmodel -q`` and ``nvidia-smi`` output; nothing here imports torch or tensorrt (versions come from package metadata).
"""

from __future__ import annotations

import glob
import logging
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

log = logging.getLogger(__name__)

#: A command runner: takes argv, returns stdout text, or None when the tool is missing or fails.
Runner = Callable[[Sequence[str]], Optional[str]]

TEGRA_RELEASE = "/etc/nv_tegra_release"
DEVICE_TREE_MODEL = "/proc/device-tree/model"
CPUINFO = "/proc/cpuinfo"
MEMINFO = "/proc/meminfo"
OS_RELEASE = "/etc/os-release"
SYSFS = "/sys"

# Distribution names to read versions from, in order of preference (first installed wins).
PACKAGES = {
    "numpy": ("numpy",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python-headless", "opencv-contrib-python"),
    "torch": ("torch",),
    "tensorrt": ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11"),
    "cuda-python": ("cuda-python", "cuda-bindings"),
    "pycuda": ("pycuda",),
    "matplotlib": ("matplotlib",),
}

# L4T release -> JetPack, used only when the nvidia-jetpack apt package cannot be queried (JetPack release notes).
L4T_TO_JETPACK = {
    "32.7.1": "4.6.1", "32.7.2": "4.6.2", "32.7.3": "4.6.3", "32.7.4": "4.6.4", "32.7.5": "4.6.5",
    "35.1.0": "5.0.2", "35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4",
    "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2", "36.4.4": "6.2.1",
}

# Jetson module family (substring of /proc/device-tree/model) -> CUDA compute capability.
JETSON_COMPUTE_CAPABILITY = (("thor", "11.0"), ("orin", "8.7"), ("xavier", "7.2"), ("tx2", "6.2"), ("nano", "5.3"))

# devfreq node names of Jetson GPUs (Nano gm20b/gpu, TX2 gp10b, Xavier gv11b, Orin ga10b, Thor gb10b).
_GPU_DEVFREQ = re.compile(r"(gpu|gm20b|gp10b|gv11b|ga10b|gb10b)", re.IGNORECASE)


def run_command(argv: Sequence[str], timeout: float = 5.0) -> Optional[str]:
    """Run ``argv`` and return its stdout, or None when the program is missing, fails or times out."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", argv[0], exc)
        return None
    if done.returncode != 0:
        log.debug("%s exited %d: %s", argv[0], done.returncode, done.stderr.strip()[:200])
        return None
    return done.stdout


def _read(path, default: Optional[str] = None) -> Optional[str]:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return default


# ----------------------------------------------------------------------------------------------------- host
#: CPU features that decide inference speed, widest first (x86 "flags", Arm "Features" in /proc/cpuinfo): INT8 runs
#: several times faster with dot-product instructions (VNNI, AMX, Arm asimddp / i8mm), so two reports from "the same"
#: CPU model name are only comparable when these agree.
SIMD_FEATURES = ("amx_int8", "avx512_vnni", "avx512_bf16", "avx512f", "avx_vnni", "avx2",
                 "sve2", "sve", "i8mm", "asimddp", "asimd")


def cpu_simd(cpuinfo_text: str) -> List[str]:
    """The :data:`SIMD_FEATURES` this CPU lists, in that order (empty where /proc/cpuinfo has no flags)."""
    match = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", cpuinfo_text, re.MULTILINE)
    have = set(match.group(1).split()) if match else set()
    return [f for f in SIMD_FEATURES if f in have]


def cpu_info(cpuinfo_path: str = CPUINFO, runner: Runner = run_command) -> Dict[str, Any]:
    """CPU model name, logical cores and cores this process may use.

    x86 ``/proc/cpuinfo`` has "model name"; Arm boards (Jetson) often do not, so ``lscpu`` is asked next.
    """
    model = None
    text = _read(cpuinfo_path, "") or ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    if match:
        model = match.group(1).strip()
    if not model:
        out = runner(["lscpu"]) or ""
        match = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if match:
            model = match.group(1).strip()
    if not model:
        model = platform.processor() or platform.machine() or None
    logical = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        usable = logical
    return {"model": model, "logical_cores": logical, "usable_cores": usable, "arch": platform.machine() or None,
            "simd": cpu_simd(text)}


def memory_total_mb(meminfo_path: str = MEMINFO) -> Optional[float]:
    """Total RAM in MiB from ``/proc/meminfo`` (None elsewhere)."""
    match = re.search(r"^MemTotal:\s*(\d+)\s*kB", _read(meminfo_path, "") or "", re.MULTILINE)
    return round(int(match.group(1)) / 1024.0, 1) if match else None


def os_info(os_release_path: str = OS_RELEASE) -> Dict[str, Any]:
    """Operating system, kernel and distribution name."""
    pretty = None
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', _read(os_release_path, "") or "", re.MULTILINE)
    if match:
        pretty = match.group(1).strip()
    return {"system": platform.system() or None, "release": platform.release() or None, "distribution": pretty}


def package_versions(packages: Optional[Dict[str, Sequence[str]]] = None) -> Dict[str, Optional[str]]:
    """Installed versions by package metadata (nothing is imported, so torch/tensorrt stay unloaded)."""
    from importlib import metadata

    out: Dict[str, Optional[str]] = {}
    for key, names in (packages or PACKAGES).items():
        out[key] = None
        for name in names:
            try:
                out[key] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


# --------------------------------------------------------------------------------------------------- NVIDIA
def parse_nvidia_smi_query(text: str) -> List[Dict[str, Any]]:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0]:
            continue
        gpu: Dict[str, Any] = {"name": parts[0], "driver": parts[1] or None, "compute_capability": None,
                               "memory_total_mb": None}
        if len(parts) >= 4:
            gpu["compute_capability"] = parts[2] if re.match(r"^\d+\.\d+$", parts[2]) else None
            gpu["memory_total_mb"] = _float_or_none(parts[3])
        elif len(parts) == 3:
            gpu["memory_total_mb"] = _float_or_none(parts[2])
        gpus.append(gpu)
    return gpus


def _float_or_none(text: str) -> Optional[float]:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def nvidia_gpus(runner: Runner = run_command) -> List[Dict[str, Any]]:
    """GPUs reported by ``nvidia-smi`` (empty when there is none or the tool is missing).

    Older drivers do not know the ``compute_cap`` field, so the query is retried without it.
    """
    base = ["nvidia-smi", "--format=csv,noheader,nounits"]
    out = runner(base[:1] + ["--query-gpu=name,driver_version,compute_cap,memory.total"] + base[1:])
    if out is None:
        out = runner(base[:1] + ["--query-gpu=name,driver_version,memory.total"] + base[1:])
    return parse_nvidia_smi_query(out) if out else []


def cuda_driver_version(runner: Runner = run_command) -> Optional[str]:
    """Highest CUDA version the driver supports ("CUDA Version: 12.4" in the ``nvidia-smi`` banner)."""
    match = re.search(r"CUDA Version:\s*([\d.]+)", runner(["nvidia-smi"]) or "")
    return match.group(1) if match else None


def cuda_toolkit_version(runner: Runner = run_command) -> Optional[str]:
    """The CUDA toolkit ``nvcc`` reports ("release 12.4, V12.4.131"), or None without a toolkit on PATH."""
    match = re.search(r"release\s+([\d.]+)", runner(["nvcc", "--version"]) or "")
    return match.group(1) if match else None


def gpu_process_memory_mb(pid: Optional[int] = None, runner: Runner = run_command) -> Optional[float]:
    """GPU memory used by process ``pid`` according to ``nvidia-smi`` (None when unknown, e.g. on Jetson)."""
    pid = os.getpid() if pid is None else pid
    out = runner(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
    for line in (out or "").strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0] == str(pid):
            return _float_or_none(parts[1])
    return None


# --------------------------------------------------------------------------------------------------- Jetson
def parse_tegra_release(text: str) -> Optional[str]:
    """L4T version from ``/etc/nv_tegra_release``: "# R36 (release), REVISION: 4.3, ..." -> "36.4.3"."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not match:
        return None
    parts = [match.group(1)] + [p for p in match.group(2).split(".") if p]
    while len(parts) < 3:
        parts.append("0")
    return ".".join(parts)


def parse_nvpmodel(text: str) -> Dict[str, Any]:
    """Power mode from ``nvpmodel -q``: "NV Power Mode: MAXN" then the mode id on the next line."""
    mode = mode_id = None
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        match = re.match(r"NV Power Mode:\s*(.+)$", line)
        if match:
            mode = match.group(1).strip()
            for nxt in lines[i + 1 :]:
                if re.fullmatch(r"\d+", nxt):
                    mode_id = int(nxt)
                    break
            break
    return {"name": mode, "id": mode_id}


def jetpack_version(l4t: Optional[str], runner: Runner = run_command) -> Dict[str, Optional[str]]:
    """JetPack release: the ``nvidia-jetpack`` apt package when present, else looked up from the L4T version."""
    out = runner(["dpkg-query", "--showformat=${Version}", "--show", "nvidia-jetpack"])
    if out and out.strip():
        return {"version": out.strip().split("+")[0].split("-")[0], "source": "dpkg nvidia-jetpack"}
    if l4t and l4t in L4T_TO_JETPACK:
        return {"version": L4T_TO_JETPACK[l4t], "source": "L4T table"}
    return {"version": None, "source": None}


def jetson_clocks(sysfs: str = SYSFS) -> Dict[str, Any]:
    """Current and maximum CPU (cpu0) and GPU clocks in MHz read from sysfs (readable without root)."""
    root = Path(sysfs)

    def mhz(path: Path, scale: float) -> Optional[float]:
        val = _float_or_none((_read(path, "") or "").strip())
        return None if val is None else round(val / scale, 1)

    cpufreq = root / "devices/system/cpu/cpu0/cpufreq"
    clocks: Dict[str, Any] = {
        "cpu_mhz": mhz(cpufreq / "scaling_cur_freq", 1e3),
        "cpu_max_mhz": mhz(cpufreq / "cpuinfo_max_freq", 1e3),
        "gpu_mhz": None,
        "gpu_max_mhz": None,
    }
    for node in sorted(glob.glob(str(root / "class/devfreq/*"))):
        if _GPU_DEVFREQ.search(Path(node).name):
            clocks["gpu_mhz"] = mhz(Path(node) / "cur_freq", 1e6)
            clocks["gpu_max_mhz"] = mhz(Path(node) / "max_freq", 1e6)
            break
    return clocks


def jetson_compute_capability(model: Optional[str]) -> Optional[str]:
    """Compute capability of a Jetson module from its device-tree model string."""
    low = (model or "").lower()
    for family, cc in JETSON_COMPUTE_CAPABILITY:
        if family in low:
            return cc
    return None


def jetson_info(
    tegra_release: str = TEGRA_RELEASE,
    model_path: str = DEVICE_TREE_MODEL,
    sysfs: str = SYSFS,
    runner: Runner = run_command,
) -> Optional[Dict[str, Any]]:
    """Jetson facts (module, L4T, JetPack, nvpmodel power mode, clocks), or None when not on a Jetson."""
    text = _read(tegra_release)
    if text is None:
        return None
    l4t = parse_tegra_release(text)
    model = (_read(model_path, "") or "").replace("\x00", "").strip() or None
    nvp = runner(["nvpmodel", "-q"])
    return {
        "model": model,
        "l4t": l4t,
        "jetpack": jetpack_version(l4t, runner),
        "power_mode": parse_nvpmodel(nvp) if nvp else {"name": None, "id": None},
        "clocks": jetson_clocks(sysfs),
        "compute_capability": jetson_compute_capability(model),
    }


def tensorrt_version(versions: Dict[str, Optional[str]], runner: Runner = run_command) -> Optional[str]:
    """TensorRT from pip metadata, else from the apt package (Jetson installs it system-wide)."""
    if versions.get("tensorrt"):
        return versions["tensorrt"]
    out = runner(["dpkg-query", "--showformat=${Version}", "--show", "tensorrt"])
    return out.strip().split("-")[0] if out and out.strip() else None


# ----------------------------------------------------------------------------------------------- top level
def fingerprint(
    *,
    runner: Runner = run_command,
    cpuinfo_path: str = CPUINFO,
    meminfo_path: str = MEMINFO,
    os_release_path: str = OS_RELEASE,
    tegra_release: str = TEGRA_RELEASE,
    model_path: str = DEVICE_TREE_MODEL,
    sysfs: str = SYSFS,
) -> Dict[str, Any]:
    """Everything a benchmark report needs to say which machine and software produced it.

    Keys always present (values None when unknown): ``cpu``, ``memory_total_mb``, ``os``, ``python``,
    ``packages``, ``fer_edge``, ``gpu`` (first NVIDIA GPU or the Jetson's), ``gpus``, ``cuda_driver``,
    ``cuda_toolkit``, ``tensorrt``, ``jetson``.
    """
    from ._version import __version__

    versions = package_versions()
    gpus = nvidia_gpus(runner)
    jetson = jetson_info(tegra_release, model_path, sysfs, runner)
    gpu: Optional[Dict[str, Any]] = dict(gpus[0]) if gpus else None
    if jetson is not None:
        # Jetson's nvidia-smi (JetPack 6+) reports "Orin (nvgpu)" and no compute capability; fill from the module.
        gpu = gpu or {"name": None, "driver": None, "compute_capability": None, "memory_total_mb": None}
        gpu["name"] = gpu.get("name") or jetson["model"]
        gpu["compute_capability"] = gpu.get("compute_capability") or jetson["compute_capability"]
    has_gpu = gpu is not None
    return {
        "cpu": cpu_info(cpuinfo_path, runner),
        "memory_total_mb": memory_total_mb(meminfo_path),
        "os": os_info(os_release_path),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "fer_edge": __version__,
        "gpu": gpu,
        "gpus": gpus,
        "cuda_driver": cuda_driver_version(runner) if has_gpu else None,
        "cuda_toolkit": cuda_toolkit_version(runner) if has_gpu else None,
        "tensorrt": tensorrt_version(versions, runner) if (has_gpu or versions.get("tensorrt")) else None,
        "jetson": jetson,
    }


def slugify(text: str, max_len: int = 48) -> str:
    """Lowercase, dash-separated file-name part: "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz" -> "intel-core-i7-10700"."""
    text = re.sub(r"\((r|tm|c)\)", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\bcpu\s*@.*$", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\b\d+-core processor\b", "", text, flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "unknown"


def device_slug(fp: Dict[str, Any], on_gpu: bool) -> str:
    """Name of the device that ran the model: the Jetson module, the GPU, or the CPU model."""
    if fp.get("jetson") and fp["jetson"].get("model"):
        return slugify(fp["jetson"]["model"])
    if on_gpu and fp.get("gpu") and fp["gpu"].get("name"):
        return slugify(fp["gpu"]["name"])
    return slugify((fp.get("cpu") or {}).get("model") or platform.machine() or "cpu")
