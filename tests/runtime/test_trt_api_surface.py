"""The fake tensorrt modules (and the names fer_edge probes) are held to NVIDIA's real Python API per version.

``tests/fakes/trt_api/<ver>.json`` is the real surface (names, member names, enum values) read from NVIDIA's
bindings wheels (research/trt_api, compacted by tests/fakes/trt_api/compact.py). A fake may offer only what the
real version has, with the real enum values; since every build/run test drives fer_edge against these fakes
(and a fake raises AttributeError for anything else), fer_edge's TensorRT calls are checked per version too.
"""

import ast
import enum
import inspect
import json
from pathlib import Path

import pytest
from fakes.fake_tensorrt import FAKE_ONLY, FakeTensorRT10, FakeTensorRT11, FakeTensorRT85, make_fake_tensorrt

SURFACES = Path(__file__).resolve().parents[1] / "fakes" / "trt_api"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "research" / "trt_api"
FAKES = [FakeTensorRT85, FakeTensorRT10, FakeTensorRT11]


def surface(name):
    return json.loads((SURFACES / f"{name}.json").read_text())["names"]


def real_members(real, cls_name):
    """Members of a real class, including those of its real bases."""
    seen, todo, out = set(), [cls_name], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in real:
            continue
        seen.add(name)
        out.update(real[name]["members"])
        todo.extend(real[name].get("bases", []))
    return out


def public_class_attrs(cls):
    base = set(dir(object))
    return {a for a in dir(cls) if not a.startswith("_") and a not in base}


@pytest.mark.parametrize("fake", FAKES, ids=lambda f: f.surface)
def test_every_fake_name_member_and_enum_value_exists_in_the_real_version(fake):
    real = surface(fake.surface)
    trt = fake().module()
    offered = {n for n in vars(trt) if not n.startswith("_") and n not in FAKE_ONLY}
    missing = sorted(offered - set(real))
    assert not missing, f"fake {fake.version} offers names TensorRT {fake.surface} lacks: {missing}"
    checked = 0
    for name in sorted(offered):
        obj = getattr(trt, name)
        if isinstance(obj, type) and issubclass(obj, enum.Enum):
            assert real[name]["kind"] == "enum", name
            values = real[name]["values"]
            for member in obj:
                assert member.name in values, f"{name}.{member.name} is not in TensorRT {fake.surface}"
                assert int(member) == values[member.name], f"{name}.{member.name}: fake {int(member)} != real"
                checked += 1
        elif isinstance(obj, type):
            extra = public_class_attrs(obj) - real_members(real, name)
            assert not extra, f"fake {name} has members TensorRT {fake.surface} lacks: {sorted(extra)}"
            checked += 1
    # instance attributes the fake config sets (real properties)
    cfg = trt.IBuilderConfig()
    extra = {a for a in vars(cfg) if not a.startswith("_")} - real_members(real, "IBuilderConfig")
    assert not extra and checked > 20


def test_each_fake_lacks_what_its_version_lacks():
    t85, t10, t11 = FakeTensorRT85().module(), FakeTensorRT10().module(), FakeTensorRT11().module()
    r10, r11 = surface("10.13.0"), surface("11.4.0")
    # 8.6 additions are absent from the 8.5 fake
    assert not hasattr(t85.BuilderFlag, "VERSION_COMPATIBLE") and not hasattr(t85, "HardwareCompatibilityLevel")
    assert not hasattr(t85.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    assert hasattr(t85.IExecutionContext, "execute_async_v2") and hasattr(t85.IExecutionContext, "execute_async_v3")
    # what 10.x lacks, the fake lacks
    for cls, member in [("IExecutionContext", "execute_async_v2"), ("Builder", "build_engine"),
                        ("IBuilderConfig", "max_workspace_size"), ("ICudaEngine", "num_bindings")]:
        assert member not in r10[cls]["members"] and not hasattr(getattr(t10, cls), member)
    # what 11.x removed
    for name in ("IInt8EntropyCalibrator2", "CalibrationAlgoType", "IInt8Calibrator"):
        assert name not in r11 and not hasattr(t11, name)
    for flag in ("FP16", "INT8"):
        assert flag not in r11["BuilderFlag"]["values"] and not hasattr(t11.BuilderFlag, flag)
    assert "EXPLICIT_BATCH" not in r11["NetworkDefinitionCreationFlag"]["values"]
    assert not hasattr(t11.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    assert "int8_calibrator" not in r11["IBuilderConfig"]["members"] and not hasattr(t11.IBuilderConfig(),
                                                                                         "int8_calibrator")
    assert int(t10.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1  # the value moved between 10 and 11
    assert int(t11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0


def _probed_names(module):
    """String names fer_edge probes with hasattr/getattr on TensorRT objects (catches typos in version checks)."""
    tree = ast.parse(inspect.getsource(module))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("hasattr", "getattr"):
            if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                names.add(node.args[1].value)
    return names


def _trt_attribute_chains(module):
    """``trt.X`` / ``trt.X.Y`` chains in a module's source."""
    tree = ast.parse(inspect.getsource(module))
    chains = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trt":
            chains.add((node.attr,))
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "trt"):
            chains.add((node.value.attr, node.attr))
    return chains


def test_every_tensorrt_name_fer_edge_uses_exists_in_a_real_version():
    from fer_edge.calibration import legacy

    from fer_edge.backends import engine_build, tensorrt, trt_differences

    reals = [surface(v) for v in ("8.6.1", "10.13.0", "11.4.0")]
    every_member = set().union(*({m for e in r.values() for m in e["members"]} | set(r) for r in reals))
    probed_diff = _probed_names(trt_differences)
    assert {"execute_async_v3", "STRONGLY_TYPED", "IInt8EntropyCalibrator2", "FP16"} <= probed_diff  # the scan works
    ours = {"name", "messages", "inputs"}  # attributes of fer_edge's own objects probed with getattr
    for module in (trt_differences, engine_build, tensorrt, legacy):
        for probed in _probed_names(module) - ours:
            if not probed.startswith("__"):
                assert probed in every_member, f"{module.__name__} probes {probed!r}, in no TensorRT version"
        for chain in _trt_attribute_chains(module):
            top = chain[0]
            assert any(top in r for r in reals), f"{module.__name__} uses trt.{top}, in no TensorRT version"
            if len(chain) == 2:
                assert any(chain[1] in r[top]["members"] for r in reals if top in r), \
                    f"{module.__name__} uses trt.{'.'.join(chain)}, in no TensorRT version"


def test_builder_flags_fer_edge_sets_exist_in_the_versions_it_sets_them_on():
    """build_recipe's flag names, per version, are real BuilderFlag members of that version."""
    from fer_edge.backends.engine_build import BuildConfig, build_recipe

    for version, name in (("8.5.2.2", "8.6.1"), ("10.13.0.35", "10.13.0"), ("11.4.0.106", "11.4.0")):
        trt, real = make_fake_tensorrt(version), surface(name)
        for onnx_precision in ("fp32", "fp16", "int8"):
            for want in ("auto", "fp32", "fp16", "int8"):
                try:
                    recipe = build_recipe(trt, onnx_precision, BuildConfig(precision=want))
                except Exception:  # noqa: BLE001 - refused combinations are tested elsewhere
                    continue
                for flag in recipe.flags:
                    assert flag in real["BuilderFlag"]["values"], (version, onnx_precision, want, flag)


@pytest.mark.skipif(not SHARED.is_dir(), reason="research/trt_api not present")
def test_committed_surfaces_match_the_research_dumps():
    import importlib.util

    spec = importlib.util.spec_from_file_location("compact", SURFACES / "compact.py")
    compact = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compact)
    for v in ("8.6.1", "10.13.0", "11.4.0"):
        full = json.loads((SHARED / f"{v}.json").read_text())
        assert compact.compact(full) == json.loads((SURFACES / f"{v}.json").read_text())


@pytest.mark.trt
def test_fake_names_exist_in_the_installed_tensorrt():
    """Where the real bindings import (a TensorRT machine, or CI with NVIDIA's wheels on stub libraries)."""
    import tensorrt as real

    major = int(real.__version__.split(".")[0])
    fake = make_fake_tensorrt(real.__version__)
    for name in (n for n in vars(fake) if not n.startswith("_") and n not in FAKE_ONLY):
        assert hasattr(real, name), f"tensorrt {real.__version__} has no {name}"
        obj = getattr(fake, name)
        if isinstance(obj, type) and issubclass(obj, enum.Enum):
            for member in obj:
                assert int(getattr(getattr(real, name), member.name)) == int(member), (name, member.name)
        elif isinstance(obj, type):
            for attr in public_class_attrs(obj):
                assert hasattr(getattr(real, name), attr), f"tensorrt {major}: {name}.{attr} missing"
