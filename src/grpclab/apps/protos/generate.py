"""Regenerate the helloworld and hellostreamingworld modules from the protos beside this file
(needs grpcio-tools).

    python -m grpclab.apps.protos.generate [OUTPUT_ROOT]

Each proto is compiled with ``src`` as include root, so the generated stubs import each other as
``grpclab.apps.protos.helloworld_pb2``. OUTPUT_ROOT defaults to that ``src`` folder; the
stale-stub test passes a temporary one and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTOS = tuple(
    Path(__file__).with_name(f"{name}.proto") for name in ("helloworld", "hellostreamingworld")
)
PROTO = PROTOS[0]
SRC_ROOT = PROTO.parents[3]
GENERATED = tuple(
    f"{proto.stem}{suffix}"
    for proto in PROTOS
    for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
)


def generate(output_root: Path = SRC_ROOT) -> list[Path]:
    """Compile the protos into OUTPUT_ROOT/grpclab/apps/protos/ and return the generated files."""
    from grpc_tools import protoc  # dev dependency, imported only when regenerating

    target = output_root / "grpclab" / "apps" / "protos"
    target.mkdir(parents=True, exist_ok=True)
    for proto in PROTOS:
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{SRC_ROOT}",
                f"--python_out={output_root}",
                f"--pyi_out={output_root}",
                f"--grpc_python_out={output_root}",
                proto.relative_to(SRC_ROOT).as_posix(),
            ]
        )
        if rc != 0:
            raise RuntimeError(f"protoc failed on {proto.name} with exit status {rc}")
    return [target / name for name in GENERATED]


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC_ROOT):
        print(path)
