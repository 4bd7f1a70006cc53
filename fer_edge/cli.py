"""`fer-edge` console script: a thin argparse layer; each subcommand's module is imported only when used.

Every subcommand is one module in ``fer_edge/commands/`` exposing ``add_arguments(parser)`` and ``run(args) -> int``
(and ``REQUIRES = ((module, extra), ...)`` when it needs an extra), registered by one line in ``COMMANDS``. A
command that drives a tool (``fer_edge.trainers``/``engines``/``calibration``) imports it inside ``run``, so
`fer-edge predict` never imports torch and `fer-edge train` works without a GPU stack.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from ._optional import EXTRA_OF, missing_dependency, require_all
from ._version import __version__
from .errors import FerEdgeError

# name -> (module, one-line help). Modules are imported lazily, only for the command that runs.
COMMANDS = {
    "predict": ("fer_edge.commands.predict", "recognise expressions in images, folders or videos"),
    "info": ("fer_edge.commands.info", "print a model's card, inputs/outputs and precision"),
    "bench": ("fer_edge.commands.bench", "benchmark detection, preprocessing and inference on this device"),
    "train": ("fer_edge.commands.train", "train a classifier (extra [train])"),
    "eval": ("fer_edge.commands.eval", "evaluate a checkpoint or ONNX model on a labelled dataset"),
    "teacher": ("fer_edge.commands.teacher", "soft targets from trained models, for distillation"),
    "export": ("fer_edge.commands.export", "export a checkpoint to ONNX with its model card (extra [export])"),
    "quantize": ("fer_edge.commands.quantize", "quantize an ONNX model to INT8 (QDQ) or FP16"),
    "build": ("fer_edge.commands.build", "build a TensorRT engine (+ sidecar) for this GPU from an ONNX model"),
    "export-triton": ("fer_edge.commands.export_triton", "write a Triton Inference Server model repository"),
    "eval-detector": ("fer_edge.commands.eval_detector", "measure face detectors on labelled face boxes"),
    "export-deepstream": ("fer_edge.commands.export_deepstream", "write a DeepStream nvinfer classifier config"),
    "data": ("fer_edge.commands.data", "build a training archive from public downloads (FER+: ferplus.npz)"),
}


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(n) for n in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="fer-edge",
        description="Facial expression recognition on the edge.",
        epilog=f"commands:\n{listing}\n\nRun `fer-edge COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fer-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND", help="one of the commands below")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    # Split global flags from the command and its own arguments.
    idx = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    ns = top.parse_args(argv[: idx + 1])
    level = logging.DEBUG if ns.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    module_name, text = COMMANDS[ns.command]
    try:
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"fer-edge {ns.command}", description=text)
        module.add_arguments(parser)
        args = parser.parse_args(argv[idx + 1 :])
        # A command declares what it needs beyond the runtime as REQUIRES = ((module, extra), ...): checked
        # here, before any work, so a runtime-only install gets one line naming the extra, not a traceback.
        require_all(getattr(module, "REQUIRES", ()), f"fer-edge {ns.command}")
        return int(module.run(args) or 0)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in EXTRA_OF:
            raise  # a broken install of the runtime itself: the traceback is the useful report
        print(f"fer-edge {ns.command}: {missing_dependency(exc, f'fer-edge {ns.command}')}", file=sys.stderr)
        return 1
    except FerEdgeError as exc:
        from .safe_text import terminal_safe

        print(f"fer-edge {ns.command}: {terminal_safe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
