"""The example inventories agree with the steps they document: the existing platform's image
is in the registry its `az acr` steps create and build into, in the inventory and in
docs/platforms/existing.md."""

from __future__ import annotations

import re

import yaml
from ansible_cli import ROOT

CLUSTER_VARS = ROOT / "inventories/existing/group_vars/grpclab/cluster.yml"


def registry_steps(text: str) -> tuple[str, str, str]:
    """(registry created, registry built into, image:tag built) from the az acr command lines."""
    created = re.findall(r"az acr create .*?-n (\S+)", text)
    built = re.findall(r"az acr build -r (\S+) -t (\S+)", text)
    assert len(created) == 1 and len(built) == 1, (created, built)
    return created[0], built[0][0], built[0][1]


def test_the_existing_example_pulls_from_the_registry_it_creates():
    text = CLUSTER_VARS.read_text()
    created, built_into, image = registry_steps(text)
    assert created == built_into
    assert yaml.safe_load(text)["grpc_apps_image"] == f"{created}.azurecr.io/{image}"


def test_the_existing_platform_page_walks_the_same_registry():
    page = (ROOT / "docs/platforms/existing.md").read_text()
    assert registry_steps(page) == registry_steps(CLUSTER_VARS.read_text())
