# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Documentation every grpclab.lab module shares: its attributes and author."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
author:
  - grpclab maintainers
"""
