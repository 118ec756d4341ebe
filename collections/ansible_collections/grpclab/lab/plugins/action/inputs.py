# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Action grpclab.lab.inputs: every input checked against the argument specs of the playbooks
and of every role, alone and with each scenario's definition, before anything changes."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible import constants as C
from ansible.errors import AnsibleUndefinedVariable
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.grpclab.lab.plugins.plugin_utils import prelude


def validate(options, provided) -> list[str]:
    result = ArgumentSpecValidator(dict(options)).validate(
        dict(provided), validate_role_argument_spec=True
    )
    return list(result.error_messages)


def options_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["argument_specs"]["main"]["options"]


class ActionModule(ActionBase):
    """One line of every bad input; the specs found where Ansible finds the roles."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(
            argument_spec={
                "roles": {"type": "list", "elements": "str", "required": True},
                "scenarios": {"type": "list", "elements": "str", "default": []},
                # relative to the prelude's folder (found on the task's search path)
                "playbook_spec": {"type": "str", "default": "vars/argument_specs.yml"},
                "scenarios_dir": {"type": "str", "default": "vars/scenarios"},
            }
        )
        search = self._task.get_search_path()
        try:
            specs = {"playbooks": options_of(self.find(search, args["playbook_spec"]))}
            for role in args["roles"]:
                specs[role] = options_of(prelude.spec_path(role, C.DEFAULT_ROLES_PATH))
            scenarios = {
                name: yaml.safe_load(
                    self.find(search, f"{args['scenarios_dir']}/{name}.yml").read_text()
                )
                or {}
                for name in args["scenarios"]
            }
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as error:
            return {**result, "failed": True, "msg": f"reading the argument specs: {error}"}

        def values(options):
            # a value that needs what only the play has (a role's default) is checked by that
            # role when it starts
            given = {}
            for name in options:
                if name in task_vars:
                    try:
                        given[name] = self._templar.template(task_vars[name])
                    except AnsibleUndefinedVariable:
                        continue
            return given

        errors = prelude.input_errors(specs, scenarios, values, validate)
        result.update(changed=False, checked=sorted(specs), scenarios=args["scenarios"])
        if errors:
            result.update(failed=True, msg="; ".join(errors), argument_errors=errors)
        return result

    def find(self, search: list[str], relative: str) -> Path:
        for base in search:
            path = Path(base) / relative
            if path.is_file():
                return path
        raise ValueError(f"{relative} not found under {', '.join(search)}")
