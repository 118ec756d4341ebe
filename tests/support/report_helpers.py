"""Reading the reports back: a PNG's size, report.md's table and its verdicts."""

from __future__ import annotations

import re
import struct


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def md_table(markdown: str) -> list[dict[str, str]]:
    """The rows of report.md's first table (the scenarios') as dicts by column name (cells
    stripped, \\| unescaped); the streams tables after it are ``md_tables``' later ones."""
    return md_tables(markdown)[0]


def md_tables(markdown: str) -> list[list[dict[str, str]]]:
    """Every table of report.md, in order, each as its rows by column name."""
    tables: list[list[str]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("| "):
            if not previous.startswith("| "):
                tables.append([])
            tables[-1].append(line)
        previous = line
    return [_rows(lines) for lines in tables]


def _rows(lines: list[str]) -> list[dict[str, str]]:
    split = [
        [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in lines
    ]
    header, rule, *rows = split
    assert all(set(cell) <= set("-:") for cell in rule)
    return [dict(zip(header, row, strict=True)) for row in rows]


def md_verdicts(markdown: str) -> dict[str, str]:
    """scenario -> verdict word (PASS/FAIL/ERROR) read back from report.md's table."""
    return {
        row["scenario"].strip("`"): row["verdict"].strip("*").split(":")[0]
        for row in md_table(markdown)
    }
