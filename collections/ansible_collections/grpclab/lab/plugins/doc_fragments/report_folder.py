# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Documentation of the folder options the report modules share (module_utils/report_folder.py);
each module documents its own title, whose default differs."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  base:
    description: Folder under which a fresh C(<UTC timestamp>/) report folder is made.
    type: path
    default: reports
  directory:
    description: Write into exactly this folder instead of a fresh one under O(base).
    type: path
  versions:
    description: Versions in play over the whole report, kept in it.
    type: dict
    default: {}
"""
