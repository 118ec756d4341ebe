"""The cilium role's filter grpclab.lab.cilium_rollouts: what the install waits for, as the chart's
templates decide whether they make ds/cilium-envoy (tests/playbooks/test_cilium_chart.py checks
the same cases against the real charts). No process, no port."""

from __future__ import annotations

import sys

import pytest
from ansible_cli import ROOT

sys.path.insert(0, str(ROOT / "collections/ansible_collections/grpclab/lab/plugins/filter"))
from cilium_rollouts import cilium_rollouts

BASE = [
    {"kind": "DaemonSet", "name": "cilium"},
    {"kind": "Deployment", "name": "cilium-operator"},
]
ENVOY = {"kind": "DaemonSet", "name": "cilium-envoy"}


@pytest.mark.parametrize(
    ("values", "version", "envoy"),
    [
        ({"envoy": {"enabled": True}}, "1.19.5", True),
        ({"envoy": {"enabled": True}}, "1.15.4", True),
        ({"envoy": {"enabled": False}}, "1.19.5", False),
        ({"envoy": {"enabled": False}}, "1.15.4", False),
        # unset: 1.16 and later make it, 1.15 does not
        ({"envoy": {"enabled": None}}, "1.19.5", True),
        ({}, "v1.16.0", True),
        ({"envoy": {"enabled": None}}, "1.15.4", False),
        ({"envoy": {"enabled": None}, "upgradeCompatibility": "1.15"}, "1.19.5", False),
        ({"envoy": {"enabled": None}, "upgradeCompatibility": "1.16"}, "1.19.5", True),
    ],
)
def test_cilium_envoy_is_awaited_when_the_chart_makes_it(values, version, envoy):
    assert cilium_rollouts(values, version) == BASE + ([ENVOY] if envoy else [])


def test_a_version_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="not a chart version: 'latest'"):
        cilium_rollouts({}, "latest")
