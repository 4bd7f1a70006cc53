"""Device fingerprint probes, fed fake Jetson files and fake nvidia-smi / nvpmodel / dpkg output."""

import sys

from fer_edge import device_info as di

TEGRA = ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
         "DATE: Wed Jan  8 01:49:37 UTC 2025\n")
NVPMODEL = "NVPM WARN: fan mode is not set!\nNV Power Mode: 25W\n1\n"
SMI_QUERY = "NVIDIA H100 80GB HBM3, 550.54.15, 9.0, 81559\nNVIDIA H100 80GB HBM3, 550.54.15, 9.0, 81559\n"
SMI_BANNER = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |\n"


def fake_runner(table):
    calls = []

    def run(argv):
        calls.append(list(argv))
        for key, out in table.items():
            if " ".join(argv).startswith(key):
                return out
        return None

    run.calls = calls
    return run


def make_jetson_tree(tmp_path, model="NVIDIA Jetson Orin Nano Developer Kit\x00"):
    (tmp_path / "nv_tegra_release").write_text(TEGRA)
    (tmp_path / "model").write_text(model)
    cpufreq = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    cpufreq.mkdir(parents=True)
    (cpufreq / "scaling_cur_freq").write_text("1510400\n")
    (cpufreq / "cpuinfo_max_freq").write_text("1728000\n")
    gpu = tmp_path / "sys/class/devfreq/17000000.ga10b"
    gpu.mkdir(parents=True)
    (gpu / "cur_freq").write_text("624750000\n")
    (gpu / "max_freq").write_text("1020000000\n")
    (tmp_path / "sys/class/devfreq/other.emc").mkdir(parents=True)
    return dict(tegra_release=str(tmp_path / "nv_tegra_release"), model_path=str(tmp_path / "model"),
                sysfs=str(tmp_path / "sys"))


def test_parse_tegra_release_and_nvpmodel():
    assert di.parse_tegra_release(TEGRA) == "36.4.3"
    assert di.parse_tegra_release("# R32 (release), REVISION: 7.1, GCID: 1") == "32.7.1"
    assert di.parse_tegra_release("# R38 (release), REVISION: 2, GCID: 1") == "38.2.0"
    assert di.parse_tegra_release("garbage") is None
    assert di.parse_nvpmodel(NVPMODEL) == {"name": "25W", "id": 1}
    assert di.parse_nvpmodel("nothing") == {"name": None, "id": None}


def test_jetson_info_from_fake_files(tmp_path):
    paths = make_jetson_tree(tmp_path)
    run = fake_runner({"nvpmodel -q": NVPMODEL})
    info = di.jetson_info(runner=run, **paths)
    assert info["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert info["l4t"] == "36.4.3"
    assert info["jetpack"] == {"version": "6.2", "source": "L4T table"}
    assert info["power_mode"] == {"name": "25W", "id": 1}
    assert info["clocks"] == {"cpu_mhz": 1510.4, "cpu_max_mhz": 1728.0, "gpu_mhz": 624.8, "gpu_max_mhz": 1020.0}
    assert info["compute_capability"] == "8.7"


def test_jetpack_prefers_dpkg(tmp_path):
    run = fake_runner({"dpkg-query --showformat=${Version} --show nvidia-jetpack": "6.2.1+b38"})
    assert di.jetpack_version("36.4.3", run) == {"version": "6.2.1", "source": "dpkg nvidia-jetpack"}
    assert di.jetpack_version("99.0.0", fake_runner({})) == {"version": None, "source": None}


def test_not_a_jetson(tmp_path):
    assert di.jetson_info(tegra_release=str(tmp_path / "missing"), runner=fake_runner({})) is None


def test_nvidia_smi_parsing_and_fallback_without_compute_cap():
    gpus = di.nvidia_gpus(fake_runner({"nvidia-smi --query-gpu=name,driver_version,compute_cap": SMI_QUERY}))
    assert len(gpus) == 2
    assert gpus[0] == {"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "compute_capability": "9.0",
                       "memory_total_mb": 81559.0}
    old = fake_runner({"nvidia-smi --query-gpu=name,driver_version,memory.total": "Tesla T4, 470.82.01, 15109\n"})
    assert di.nvidia_gpus(old) == [{"name": "Tesla T4", "driver": "470.82.01", "compute_capability": None,
                                    "memory_total_mb": 15109.0}]
    assert len(old.calls) == 2
    assert di.nvidia_gpus(fake_runner({})) == []
    assert di.cuda_driver_version(fake_runner({"nvidia-smi": SMI_BANNER})) == "12.4"
    assert di.cuda_toolkit_version(fake_runner({"nvcc": "Cuda compilation tools, release 12.4, V12.4.131"})) == "12.4"


def test_gpu_process_memory():
    run = fake_runner({"nvidia-smi --query-compute-apps": "111, 20\n4242, 812\n"})
    assert di.gpu_process_memory_mb(4242, run) == 812.0
    assert di.gpu_process_memory_mb(7, run) is None


def test_fingerprint_on_fake_gpu_machine(tmp_path):
    run = fake_runner({"nvidia-smi --query-gpu=name,driver_version,compute_cap": SMI_QUERY, "nvidia-smi": SMI_BANNER,
                       "dpkg-query --showformat=${Version} --show tensorrt": "10.3.0.30-1+cuda12.5"})
    fp = di.fingerprint(runner=run, tegra_release=str(tmp_path / "none"))
    assert fp["gpu"]["name"] == "NVIDIA H100 80GB HBM3"
    assert fp["gpu"]["compute_capability"] == "9.0"
    assert fp["cuda_driver"] == "12.4"
    assert fp["tensorrt"] in ("10.3.0.30", fp["packages"]["tensorrt"])
    assert fp["jetson"] is None
    assert di.device_slug(fp, on_gpu=True) == "nvidia-h100-80gb-hbm3"


def test_fingerprint_on_fake_jetson(tmp_path):
    paths = make_jetson_tree(tmp_path)
    fp = di.fingerprint(runner=fake_runner({"nvpmodel -q": "NV Power Mode: MAXN_SUPER\n2\n"}), **paths)
    assert fp["jetson"]["power_mode"]["name"] == "MAXN_SUPER"
    assert fp["gpu"]["name"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert fp["gpu"]["compute_capability"] == "8.7"
    assert di.device_slug(fp, on_gpu=False) == "nvidia-jetson-orin-nano-developer-kit"


def test_fingerprint_fills_host_fields_on_this_machine():
    fp = di.fingerprint(runner=fake_runner({}), tegra_release="/nonexistent/nv_tegra_release")
    assert fp["cpu"]["model"]
    assert fp["cpu"]["logical_cores"] >= 1
    assert fp["python"].count(".") == 2
    assert fp["packages"]["numpy"] and fp["packages"]["onnxruntime"] and fp["packages"]["opencv"]
    assert fp["os"]["system"]
    assert fp["gpu"] is None and fp["cuda_driver"] is None


def test_cpu_model_from_lscpu_when_cpuinfo_has_none(tmp_path):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nBogoMIPS\t: 62.50\n")
    lscpu = fake_runner({"lscpu": "Architecture: aarch64\nModel name: Cortex-A78AE\n"})
    info = di.cpu_info(str(tmp_path / "cpuinfo"), lscpu)
    assert info["model"] == "Cortex-A78AE"


def test_cpu_simd_features_that_decide_int8_speed(tmp_path):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nmodel name\t: AMD EPYC\n"
                                      "flags\t\t: fpu sse avx2 fma avx512f avx512_vnni avx512_bf16\n")
    assert di.cpu_info(str(tmp_path / "cpuinfo"), fake_runner({}))["simd"] == ["avx512_vnni", "avx512_bf16",
                                                                              "avx512f", "avx2"]
    assert di.cpu_simd("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp\n") == ["asimddp", "asimd"]
    assert di.cpu_simd("processor\t: 0\n") == []


def test_slugify():
    assert di.slugify("Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz") == "intel-core-i7-10700"
    assert di.slugify("AMD Ryzen 7 5800X 8-Core Processor") == "amd-ryzen-7-5800x"
    assert di.slugify("  ") == "unknown"


def test_fingerprint_does_not_import_torch_or_tensorrt():
    import subprocess

    code = ("import sys; from fer_edge import device_info as d; d.fingerprint(); "
            "print([m for m in ('torch', 'tensorrt') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
