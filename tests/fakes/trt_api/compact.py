"""Reduce research/trt_api/<ver>.json (NVIDIA's real tensorrt surface) to names, member names and enum values.

Run: python tests/fakes/trt_api/compact.py ../shared/research/trt_api/10.13.0.json tests/fakes/trt_api/10.13.0.json
The test ``test_trt_api_surface.py`` checks the fakes and fer_edge's TensorRT calls against these files.
"""

import json
import sys


def compact(surface: dict) -> dict:
    names = {}
    for name, entry in surface["names"].items():
        item = {"kind": entry.get("kind"), "bases": entry.get("bases", []),
                "members": sorted(entry.get("members", {}))}
        if "values" in entry:
            item["values"] = entry["values"]
        names[name] = item
    return {"version": surface["version"], "wheel": surface["wheel"], "names": names}


if __name__ == "__main__":
    src, dst = sys.argv[1:3]
    with open(src) as fh:
        data = compact(json.load(fh))
    with open(dst, "w") as fh:
        json.dump(data, fh, sort_keys=True, separators=(",", ":"))
