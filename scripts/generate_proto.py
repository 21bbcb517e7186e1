"""Regenerate hitcount-core's protobuf module from ``hit.proto``.

The generator is pinned (grpcio-tools, see ``GENERATOR``) so that the committed
``hit_pb2.py`` is reproducible byte for byte; ``test_wire.py`` reruns this script
into a temporary directory and fails when the output differs from what is committed.
Usage: ``python scripts/generate_proto.py [OUTPUT_DIR]`` (default: in place).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

GENERATOR = "grpcio-tools==1.85.1"
SOURCE_ROOT = Path(__file__).resolve().parent.parent / "packages" / "core" / "src"
PROTO = "hitcount/core/hit.proto"


def generate(output_root: Path) -> list[Path]:
    """Write ``hit_pb2.py`` and ``hit_pb2.pyi`` under ``output_root`` and return their paths."""
    from grpc_tools import protoc  # imported here: only needed by developers

    with tempfile.TemporaryDirectory() as staging:
        args = ["protoc", f"-I{SOURCE_ROOT}", f"--python_out={staging}", f"--pyi_out={staging}", PROTO]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {PROTO}")
        written = []
        for name in ("hit_pb2.py", "hit_pb2.pyi"):
            target = output_root / "hitcount" / "core" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(staging) / "hitcount" / "core" / name, target)
            written.append(target)
        return written


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE_ROOT
    for path in generate(root):
        print(path)
