"""tools/install_torch.py (what `make test` runs): a CPU torch where PyPI would bring the CUDA build."""

import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "install_torch.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("install_torch", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_pip(plan):
    """A pip whose --dry-run --report writes ``plan`` (package names) and records every call."""
    calls = []

    def run(cmd):
        calls.append(list(cmd))
        if "--report" in cmd:
            report = cmd[cmd.index("--report") + 1]
            Path(report).write_text(json.dumps({"install": [{"metadata": {"name": n}} for n in plan]}))
        return 0

    return run, calls


def test_a_plan_without_nvidia_wheels_installs_as_resolved(tool):
    run, calls = fake_pip(["torch", "sympy", "filelock"])  # e.g. the local 2.13.0+cpu wheel on the CI machine
    cmd = tool.install_command(["pip"], "torch==2.13.0", index="file:///nowhere", timeout=0.1, run=run)
    assert cmd == ["pip", "install", "-q", "torch==2.13.0"]
    assert len(calls) == 1 and "--dry-run" in calls[0]


@pytest.fixture()
def local_index(tmp_path):
    """A CPU wheel index on localhost (a folder served over HTTP): reachable, no network needed."""
    import functools
    import http.server
    import threading

    (tmp_path / "torch").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_cuda_build_is_replaced_by_the_cpu_index_when_it_answers(tool, local_index):
    index = local_index
    run, _ = fake_pip(["torch", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "triton"])
    cmd = tool.install_command(["pip"], "torch==2.13.0", index=index, timeout=1, run=run)
    assert cmd == ["pip", "install", "-q", "--index-url", index, "--extra-index-url", tool.PYPI, "torch==2.13.0"]


def test_an_unreachable_cpu_index_falls_back_with_a_warning(tool, capsys):
    run, _ = fake_pip(["torch", "nvidia-cublas-cu12"])
    cmd = tool.install_command(["pip"], "torch==2.13.0", index="http://127.0.0.1:9/", timeout=0.5, run=run)
    assert cmd == ["pip", "install", "-q", "torch==2.13.0"]
    assert "not reachable" in capsys.readouterr().err


def test_makefile_installs_torch_through_the_tool():
    text = (TOOL.parents[1] / "Makefile").read_text()
    assert "tools/install_torch.py $(TORCH)" in text
    assert "pinned first so the [train] extra never pulls" not in text  # the old, untrue comment
