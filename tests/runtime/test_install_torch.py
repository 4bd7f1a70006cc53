"""tools/install_torch.py (what `make test` runs): the CPU torch build where PyPI would bring the CUDA one."""

import json

import pytest
from fakes.tool_module import TOOLS, load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("install_torch")


@pytest.fixture()
def local_index(tmp_path):
    """A CPU wheel index on localhost (a folder served over HTTP): reachable, no network needed."""
    import functools
    import http.server
    import threading

    (tmp_path / "torch").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_reachable_cpu_index_is_used_with_pypi_for_the_dependencies(tool, local_index):
    cmd = tool.install_command(["pip"], "torch==2.13.0", index=local_index, timeout=2)
    assert cmd == ["pip", "install", "-q", "--index-url", local_index, "--extra-index-url", tool.PYPI,
                   "torch==2.13.0"]


def test_an_unreachable_index_falls_back_to_what_pip_resolves(tool):
    # This machine: the probe fails at once and pip picks the local CPU wheel from its find-links.
    cmd = tool.install_command(["pip"], "torch==2.13.0", index="http://127.0.0.1:9/", timeout=0.5)
    assert cmd == ["pip", "install", "-q", "torch==2.13.0"]


def test_a_cuda_build_that_came_in_anyway_is_named(tool):
    listed = [{"name": "torch", "version": "2.13.0"}, {"name": "nvidia-cublas-cu12", "version": "1"},
              {"name": "numpy", "version": "2"}]
    assert tool.cuda_wheels(["pip"], lambda cmd: json.dumps(listed)) == ["nvidia-cublas-cu12"]
    assert tool.cuda_wheels(["pip"], lambda cmd: "not json") == []


def test_makefile_installs_torch_through_the_tool():
    text = (TOOLS.parent / "Makefile").read_text()
    assert "tools/install_torch.py $(TORCH)" in text
    assert "pinned first so the [train] extra never pulls" not in text  # the old, untrue comment
