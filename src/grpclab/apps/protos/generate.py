"""Regenerate the helloworld modules from the proto beside this file (needs grpcio-tools).

    python -m grpclab.apps.protos.generate [OUTPUT_ROOT]

The proto is compiled with ``src`` as include root, so the generated stubs import each other as
``grpclab.apps.protos.helloworld_pb2``. OUTPUT_ROOT defaults to that ``src`` folder; the
stale-stub test passes a temporary one and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO = Path(__file__).with_name("helloworld.proto")
SRC_ROOT = PROTO.parents[3]
GENERATED = ("helloworld_pb2.py", "helloworld_pb2.pyi", "helloworld_pb2_grpc.py")


def generate(output_root: Path = SRC_ROOT) -> list[Path]:
    """Compile the proto into OUTPUT_ROOT/grpclab/apps/protos/ and return the generated files."""
    from grpc_tools import protoc  # dev dependency, imported only when regenerating

    target = output_root / "grpclab" / "apps" / "protos"
    target.mkdir(parents=True, exist_ok=True)
    relative = PROTO.relative_to(SRC_ROOT).as_posix()
    rc = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{SRC_ROOT}",
            f"--python_out={output_root}",
            f"--pyi_out={output_root}",
            f"--grpc_python_out={output_root}",
            relative,
        ]
    )
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit status {rc}")
    return [target / name for name in GENERATED]


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC_ROOT):
        print(path)
