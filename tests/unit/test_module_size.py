"""No module of the package or the collection passes 400 lines: a module that grows past it is
split by concern (STYLE.md), not left to grow. The generated gRPC stubs are not ours to split."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400


def test_no_module_is_over_400_lines() -> None:
    paths = [*ROOT.glob("src/grpclab/**/*.py"), *ROOT.glob("collections/**/plugins/**/*.py")]
    assert len(paths) > 50
    long = {
        str(path.relative_to(ROOT)): lines
        for path in paths
        if "_pb2" not in path.name and (lines := len(path.read_text().splitlines())) > LIMIT
    }
    assert long == {}
