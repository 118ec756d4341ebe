# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The one import guard of the grpclab.lab modules: each imports its part of the grpclab package
through `import_grpclab`, which fails the task with how to install grpclab when it is missing."""

from __future__ import annotations

import importlib
import traceback
from types import ModuleType

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

INSTALL_HINT = "grpclab (pip install -e . in this project, in the environment that runs Ansible)"


def import_grpclab(module: AnsibleModule, name: str) -> ModuleType:
    """grpclab.<name>, or the task fails naming what to install."""
    try:
        return importlib.import_module(f"grpclab.{name}")
    except ImportError:
        module.fail_json(msg=missing_required_lib(INSTALL_HINT), exception=traceback.format_exc())
        raise  # fail_json exits; this keeps type checkers and readers certain of it
