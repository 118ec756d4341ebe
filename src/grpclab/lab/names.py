"""Pod-like names: ``<deployment>-<pod-template-hash>-<5 chars>`` as a ReplicaSet makes them."""

from __future__ import annotations

import hashlib
import secrets

# the alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _stable_token(seed: str, length: int) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    token = []
    for _ in range(length):
        digest, index = divmod(digest, len(NAME_ALPHABET))
        token.append(NAME_ALPHABET[index])
    return "".join(token)


def pod_names(app: str, template: str, replicas: int) -> list[str]:
    """Pod-like names ``<app>-<template hash>-<suffix>``, as a Deployment's ReplicaSet makes.

    Unlike Kubernetes the suffixes are not random: the same template (any string describing
    the pod spec, the cluster name included) and replica index give the same name on every
    run, so a second run finds its pods. A changed template renames every pod, as a rollout.
    """
    if replicas < 0:
        raise ValueError("replicas must be >= 0")
    template_hash = _stable_token(f"{app}\0{template}", 10)
    return [
        f"{app}-{template_hash}-{_stable_token(f'{template_hash}/{index}', 5)}"
        for index in range(replicas)
    ]


def template_hash(seed: str) -> str:
    """The pod-template-hash of a pod template (any stable text of it): 10 name characters."""
    return _stable_token(seed, 10)


def random_suffix() -> str:
    """The 5 random characters Kubernetes appends to a generated pod name."""
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
