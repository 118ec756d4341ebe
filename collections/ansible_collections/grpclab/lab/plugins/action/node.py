# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Action grpclab.lab.node: a lab cluster's node, present or absent (runs on the controller)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.grpclab.lab.plugins.plugin_utils import play_lock

try:
    from ansible_collections.grpclab.lab.plugins.plugin_utils import lab_node
except ImportError as error:  # grpclab not installed next to Ansible
    lab_node = None
    IMPORT_ERROR = str(error)

CONFIG_KEYS = ("name", "podNetwork", "serviceNetwork", "dnsAddress")
display = Display()


class ActionModule(ActionBase):
    """Start, keep or stop the node of a lab cluster, on the controller itself: the lab host is
    the controller, and doing this here spares the half second each module call costs."""

    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "state_dir": {"type": "path", "required": True},
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                "config": {"type": "dict", "default": {}},
                "python": {"type": "path", "default": sys.executable},
                "addresses": {"type": "list", "elements": "str", "default": []},
                "binaries": {"type": "list", "elements": "list", "default": []},
                "ready_timeout": {"type": "float", "default": 20.0},
                "stop_timeout": {"type": "float", "default": 30.0},
                "remove_empty_parents": {"type": "list", "elements": "path", "default": []},
                "lock_timeout": {"type": "float", "default": 900.0},
            }
        )
        if lab_node is None:
            return {
                **result,
                "failed": True,
                "msg": f"grpclab is not importable by {sys.executable}: {IMPORT_ERROR}",
            }
        connection = (task_vars or {}).get("ansible_connection", self._play_context.connection)
        if connection not in ("local", "ansible.builtin.local"):
            return {
                **result,
                "failed": True,
                "msg": f"the lab runs on the controller: ansible_connection must be local, "
                f"not {connection}",
            }
        state_dir = Path(args["state_dir"])
        present = args["state"] == "present"
        if (present or state_dir.exists()) and not self._task.check_mode:
            problem = play_lock.acquire(
                state_dir, timeout=args["lock_timeout"], say=display.display
            )
            if problem:
                return {**result, "failed": True, "msg": problem}
        try:
            if not present:
                outcome = lab_node.ensure_absent(
                    state_dir,
                    stop_timeout=args["stop_timeout"],
                    empty_parents=args["remove_empty_parents"],
                    check_mode=self._task.check_mode,
                )
            else:
                # plain types: Ansible's tagged values are not YAML-representable
                config = json.loads(json.dumps(args["config"]))
                missing = [key for key in CONFIG_KEYS if not config.get(key)]
                if missing:
                    return {**result, "failed": True, "msg": f"config lacks {', '.join(missing)}"}
                outcome = lab_node.ensure_present(
                    state_dir,
                    config,
                    args["python"],
                    addresses=args["addresses"],
                    binaries=[[str(arg) for arg in argv] for argv in args["binaries"]],
                    ready_timeout=args["ready_timeout"],
                    stop_timeout=args["stop_timeout"],
                    empty_parents=args["remove_empty_parents"],
                    check_mode=self._task.check_mode,
                )
        except lab_node.LabNodeError as error:
            return {**result, "failed": True, "msg": str(error), "log_tail": error.detail}
        except lab_node.lab.LabError as error:
            return {**result, "failed": True, "msg": str(error)}
        result.update(asdict(outcome))
        return result
