# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Action grpclab.lab.lock: the play lock of a lab cluster (runs on the controller)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.grpclab.lab.plugins.plugin_utils import play_lock

display = Display()
POLL = 0.2


class ActionModule(ActionBase):
    """Wait until no other ansible-playbook holds the cluster, then hold it for this one."""

    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec={
            "state_dir": {"type": "path", "required": True},
            "create": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 900.0},
        })
        state_dir = Path(args["state_dir"])
        result["changed"] = False
        if not state_dir.is_dir() and (not args["create"] or self._task.check_mode):
            result["msg"] = f"{state_dir} does not exist: nothing to lock"
            return result
        path = state_dir / play_lock.LOCK_FILE
        # this task runs in a worker process forked by ansible-playbook: the lock is its parent's
        me = play_lock.holder_of(os.getppid())
        if me is None:
            return {**result, "failed": True, "msg": "the ansible-playbook process is gone"}
        began = time.monotonic()
        holder = play_lock.try_acquire(path, me)
        if holder is not None:
            display.display(
                f"cluster {state_dir.name} is in use by another play: ansible-playbook "
                f"{holder.describe()}; waiting up to {args['timeout']:g} s for it to finish")
        while holder is not None:
            if time.monotonic() - began > args["timeout"]:
                return {**result, "failed": True,
                        "msg": f"cluster {state_dir.name} is still in use after "
                               f"{args['timeout']:g} s by {holder.describe()}; lock {path}"}
            time.sleep(POLL)
            holder = play_lock.try_acquire(path, me)
        result.update(lock=str(path), pid=me.pid, waited=round(time.monotonic() - began, 2),
                      msg=f"held by pid {me.pid}")
        return result
