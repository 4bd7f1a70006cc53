"""Writing a report: JSON (schema-checked), Markdown and plots under one name per device/backend/precision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from .markdown import render_markdown, report_stem
from .plots import write_plots
from .schema import validate_report


def write_report(report: Dict[str, Any], out, plots: bool = True) -> Dict[str, Any]:
    """Write ``<stem>.json``, ``<stem>.md`` and the PNGs into folder ``out`` (or beside ``out`` if it is a .json).

    Returns:
        {"json": Path, "markdown": Path, "plots": [Path, ...]}
    """
    validate_report(report)
    out = Path(out)
    if out.suffix.lower() == ".json":
        out_dir, stem = out.parent, out.stem
    else:
        out_dir, stem = out, report_stem(report)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = write_plots(report, out_dir, stem) if plots else []
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    md_path = out_dir / f"{stem}.md"
    md_path.write_text(render_markdown(report, [str(p) for p in pngs]))
    return {"json": json_path, "markdown": md_path, "plots": pngs}
