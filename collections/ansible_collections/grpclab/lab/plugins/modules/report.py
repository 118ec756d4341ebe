#!/usr/bin/python
# Copyright: grpclab maintainers
# Apache License 2.0 (see the project's pyproject.toml)
"""Ansible module grpclab.lab.report: a thin wrapper over grpclab.report."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.grpclab.lab.plugins.module_utils.grpclab_package import import_grpclab
from ansible_collections.grpclab.lab.plugins.module_utils.report_folder import report_folder_options

DOCUMENTATION = r"""
---
module: report
short_description: Write a grpclab report folder from the probe results of several scenarios
version_added: 1.0.0
description:
  - Writes C(report.json), C(report.md), C(report.png) and C(report.html) into a fresh
    C(<base>/<UTC timestamp>/) folder (or exactly O(directory)) with C(grpclab.report), the
    same code as C(grpclab-probe --report).
  - A scenario's verdict is C(pass) when its probe result passed with the expectation the
    scenario promises, C(fail) otherwise, C(error) when it has no result.
  - Writes the report whatever the verdicts; the play decides what a failed verdict means.
options:
  scenarios:
    description:
      - One entry per scenario, in the order of the report.
      - V(scenario), V(promise) (V(spread), V(pinned) or V(none)) and V(result) (the probe's
        JSON result, or null with V(error) saying why) are required; V(path) (the path of the
        calls), V(platform), V(cluster) and V(versions) (a dict) are shown when given.
    type: list
    elements: dict
    required: true
  title:
    description: The report's title.
    type: str
    default: grpclab compare
attributes:
  check_mode:
    details: In check mode nothing is written; the verdicts and the table are returned.
extends_documentation_fragment:
  - grpclab.lab.common
  - grpclab.lab.report_folder
"""

EXAMPLES = r"""
- name: Write the report
  grpclab.lab.report:
    base: "{{ playbook_dir | dirname }}/reports"
    scenarios:
      - scenario: cilium
        promise: spread
        path: ClusterIP grpc-server, lb-l7 Envoy round_robin
        platform: lab
        result: "{{ grpc_probe_result }}"
        versions: {envoy: 1.40.0}
  register: compare_report
"""

RETURN = r"""
report_dir:
  description: The report folder (null in check mode).
  returned: always
  type: str
  sample: /srv/grpclab/reports/20260529T074512Z
files:
  description: The files written.
  returned: always
  type: list
  elements: str
passed:
  description: Every scenario kept its promise.
  returned: always
  type: bool
failed_scenarios:
  description: Scenarios whose verdict is not C(pass).
  returned: always
  type: list
  elements: str
verdicts:
  description: Verdict by scenario (C(pass), C(fail) or C(error)).
  returned: always
  type: dict
table:
  description: The report's table (Markdown), as in C(report.md).
  returned: always
  type: str
summary:
  description: One line per scenario, with its verdict and the probe's summary.
  returned: always
  type: list
  elements: str
failures:
  description: The lines of RV(summary) of the scenarios that did not keep their promise.
  returned: always
  type: list
  elements: str
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "scenarios": {"type": "list", "elements": "dict", "required": True},
            **report_folder_options("grpclab compare"),
        },
        supports_check_mode=True,
    )
    report = import_grpclab(module, "report")
    params = module.params
    try:
        document = report.build_report(
            params["scenarios"], title=params["title"], versions=params["versions"]
        )
        folder = None
        if not module.check_mode:
            folder = params["directory"] or report.new_report_dir(params["base"])
            report.write_files(document, folder)
    except (OSError, ValueError) as error:  # ReportError is a ValueError
        module.fail_json(msg=f"cannot write the report: {error}")
    docs = document["scenarios"]
    summary = {
        doc["scenario"]: f"{doc['scenario']}: {report.verdict_text(doc)} - {doc['summary']}"
        for doc in docs
    }
    module.exit_json(
        changed=True,
        report_dir=str(folder) if folder else None,
        files=[f"{folder}/{name}" for name in report.FILES] if folder else [],
        passed=document["passed"],
        failed_scenarios=document["failed_scenarios"],
        verdicts={doc["scenario"]: doc["verdict"] for doc in docs},
        table=report.markdown_table(document),
        summary=list(summary.values()),
        failures=[summary[name] for name in document["failed_scenarios"]],
    )


if __name__ == "__main__":
    main()
