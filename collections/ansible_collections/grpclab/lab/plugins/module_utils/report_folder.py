# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The options the report modules share: where the folder goes, its title and versions
(documented in doc_fragments/report_folder.py)."""

from __future__ import annotations


def report_folder_options(title: str) -> dict:
    """Argument spec of base, directory, title (default ``title``) and versions."""
    return {
        "base": {"type": "path", "default": "reports"},
        "directory": {"type": "path"},
        "title": {"type": "str", "default": title},
        "versions": {"type": "dict", "default": {}},
    }
