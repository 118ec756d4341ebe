# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Action grpclab.lab.apply: desired-state files of a lab cluster (runs on the controller)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.grpclab.lab.plugins.plugin_utils import play_lock

try:
    from ansible_collections.grpclab.lab.plugins.plugin_utils import lab_apply

    from grpclab.lab import cluster as clusterdir
    from grpclab.lab.errors import LabError
except ImportError as error:  # grpclab not installed next to Ansible
    lab_apply = None
    IMPORT_ERROR = str(error)

display = Display()


class ActionModule(ActionBase):
    """Write (or remove) files of a lab cluster's desired state, as kubectl apply (or delete)
    sends objects to the API server, and wait for the Deployments they hold to roll out."""

    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "state_dir": {"type": "path", "required": True},
                # name (relative to the state directory) -> content; state absent: only names count
                "files": {"type": "dict", "required": True},
                "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                "wait": {"type": "bool", "default": False},
                "wait_timeout": {"type": "float", "default": 300.0},
                "lock_timeout": {"type": "float", "default": 900.0},
            }
        )
        if lab_apply is None:
            return {
                **result,
                "failed": True,
                "msg": f"grpclab is not importable by {sys.executable}: {IMPORT_ERROR}",
            }
        state_dir = Path(args["state_dir"])
        files = {str(name): str(content) for name, content in args["files"].items()}
        present = args["state"] == "present"
        if not present and not state_dir.exists():
            return {**result, "changed": False}
        if state_dir.exists() and not self._task.check_mode:
            problem = play_lock.acquire(
                state_dir, timeout=args["lock_timeout"], say=display.display
            )
            if problem:
                return {**result, "failed": True, "msg": problem}
        try:
            if present:
                # as kubectl needs the API server: nothing is written for a node that is not there
                clusterdir.read_status(state_dir, state_dir.name)
            changes = lab_apply.plan(state_dir, files, present)
            lab_apply.validate(state_dir, changes)
        except LabError as error:
            return {**result, "failed": True, "msg": str(error)}
        result["changed"] = bool(changes)
        result["files"] = [change.name for change in changes]
        if self._task.diff and changes:
            result["diff"] = [
                {
                    "before_header": c.name,
                    "after_header": c.name,
                    "before": c.before or "",
                    "after": c.after or "",
                }
                for c in changes
            ]
        if self._task.check_mode:
            return result
        lab_apply.write(changes)
        if not present:
            return result
        try:
            if changes:
                lab_apply.wait_read(state_dir)
        except LabError as error:
            # refused by the node, which keeps its previous state: so do its files
            lab_apply.undo(changes)
            return {**result, "changed": False, "failed": True, "msg": str(error)}
        if args["wait"]:
            deadline = time.monotonic() + args["wait_timeout"]
            said = []
            try:
                for deployment in lab_apply.deployments(files, state_dir):
                    done, text = lab_apply.rollout_status(
                        state_dir, deployment, deadline - time.monotonic()
                    )
                    said.append(text)
                    if not done:
                        return {**result, "failed": True, "msg": text, "rollout": said}
            except LabError as error:
                return {**result, "failed": True, "msg": str(error), "rollout": said}
            result["rollout"] = said
        return result
