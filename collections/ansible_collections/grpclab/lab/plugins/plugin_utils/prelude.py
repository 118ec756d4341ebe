# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""The prelude's judgements, pure: which renamed variables were given, which inputs break the
argument specs of the playbooks and the roles (alone, and with each scenario's definition), and
whether the lab can run the replicas asked for. Each problem is said in one line."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

Validate = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]

# the keys of one entry of playbooks/vars/renamed.yml; a variable that went without a successor
# has ``gone`` (why, and what replaces it) instead of ``new``
RENAME_KEYS = ("old", "new", "since", "removed_in")


def check_renames(renamed: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The entries of playbooks/vars/renamed.yml, each with old, new (or gone), since and
    removed_in; an entry without them, or an old name given twice, raises ValueError."""
    entries, seen = [], set()
    for entry in renamed:
        keys = [key for key in RENAME_KEYS if key != "new" or "gone" not in entry]
        absent = [key for key in keys if not str(entry.get(key, "") or "")]
        if "gone" in entry and not str(entry["gone"] or ""):
            absent.append("gone")
        if absent:
            raise ValueError(f"renamed entry {dict(entry)} lacks {', '.join(absent)}")
        if entry["old"] in seen:
            raise ValueError(f"renamed entry {entry['old']} is listed twice")
        seen.add(entry["old"])
        entries.append({key: str(entry[key]) for key in (*keys, "gone") if key in entry})
    return entries


def refuse_renamed(renamed: Iterable[Mapping[str, Any]], given: Iterable[str]) -> str:
    """One line naming each old name that was given with its new name, or "" when none was."""
    names = set(given)
    found = [entry for entry in check_renames(renamed) if entry["old"] in names]
    if not found:
        return ""
    moves = "; ".join(
        f"{e['old']} is gone since {e['since']} ({e['gone']})"
        if "gone" in e
        else f"{e['old']} is now called {e['new']} (renamed in {e['since']}, "
        f"the old name goes in {e['removed_in']})"
        for e in found
    )
    verb = "remove or rename" if any("gone" in e for e in found) else "rename"
    return f"{moves}: {verb} them where they are set (-e, inventory)"


def spec_path(role: str, roles_paths: Iterable[str]) -> Path:
    """meta/argument_specs.yml of ``role`` in the first roles path that has it."""
    for base in roles_paths:
        path = Path(base) / role / "meta" / "argument_specs.yml"
        if path.is_file():
            return path
    raise ValueError(f"role {role} not found in the roles path {':'.join(map(str, roles_paths))}")


def is_template(value: Any) -> bool:
    """A scenario's value that the play renders (checked by the role when it starts)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def input_errors(
    specs: Mapping[str, Mapping[str, Any]],
    scenarios: Mapping[str, Mapping[str, Any]],
    values: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    validate: Validate,
) -> list[str]:
    """The errors of every spec (name -> options) against the values the play has (``values``
    of a spec's options: the -e values, the inventory), alone and with each scenario's
    definition over them; each error once, in the order found.

    ``validate(options, provided)`` is Ansible's ArgumentSpecValidator, its error messages."""
    errors: list[str] = []
    for scenario in [None, *scenarios]:
        definition = {} if scenario is None else scenarios[scenario]
        for options in specs.values():
            provided = dict(values(options))
            provided.update(
                {
                    name: value
                    for name, value in definition.items()
                    if name in options and not is_template(value)
                }
            )
            for error in validate(options, provided):
                where = "" if scenario is None else f" (scenario {scenario})"
                line = f"{error}{where}"
                if line not in errors and error not in errors:
                    errors.append(line)
    return errors


def replica_cap(replicas: int, capacity: Mapping[str, Any]) -> str:
    """Why the lab cannot run ``replicas`` servers, from the capacity lookup, or ""."""
    replicas = int(replicas)
    by_range, by_memory = int(capacity["by_range"]), int(capacity["by_memory"])
    if replicas <= by_range and replicas <= by_memory:
        return ""
    if replicas > by_range:
        why = (
            f"its pod range of {capacity['pod_range']} addresses holds at most {by_range} "
            "replicas with a rollout's surge and the client"
        )
    else:
        per_pod = int(capacity["per_pod_mb"])
        why = (
            f"at about {per_pod} MB each they need {replicas * per_pod} MB and "
            f"{capacity['available_mb']} MB are available, enough for {by_memory}"
        )
    return (
        f"grpclab_replicas={replicas} is more than the lab can run: {why}; "
        "kind and existing have no such cap"
    )
