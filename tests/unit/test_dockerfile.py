"""images/Dockerfile, read statically (tests/containers/test_container.py builds it and runs it)."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for pair in instructions():
        if pair[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(pair)
    return result


def build_args() -> dict[str, str]:
    pairs = [rest.split("=", 1) for word, rest in instructions() if word == "ARG" and "=" in rest]
    return dict(pairs)


def base_images() -> list[str]:
    args = build_args()
    images = []
    for stage in stages():
        image = stage[0][1].split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_base_image_is_a_small_pinned_python():
    for image in base_images():
        name, _, tag = image.partition(":")
        assert name == "python", image
        pinned_tag = re.fullmatch(r"3\.1[1-9]\.\d+-slim(-\w+)?", tag.split("@")[0])
        assert pinned_tag or "@sha256:" in image, f"base image {image} is not pinned"


def test_final_stage_runs_as_a_non_root_user():
    final = stages()[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER"
    assert users[-1] not in {"0", "root"}
    assert users[-1].isdigit(), "a numeric UID lets Kubernetes check runAsNonRoot"


def test_no_compiler_in_the_final_stage():
    final = " ".join(rest for _, rest in stages()[-1])
    for tool in ("gcc", "build-essential", "g++", "clang", "-dev "):
        assert tool not in final, f"{tool} in the final stage"
    assert len(stages()) >= 2, "a build stage keeps the build out of the final image"


def test_every_entry_point_it_names_exists_in_the_package():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    named = set(re.findall(r"grpclab-[a-z]+", DOCKERFILE.read_text()))
    assert {"grpclab-server", "grpclab-client", "grpclab-probe"} <= named
    for script in named:
        assert script in scripts, f"{script} is not a console script of the package"
        module, _, function = scripts[script].partition(":")
        assert callable(getattr(importlib.import_module(module), function))


def test_default_command_runs_the_server_on_the_service_port():
    cmd = [rest for word, rest in stages()[-1] if word == "CMD"][-1]
    assert cmd.startswith('["grpclab-server"')
    assert '"50051"' in cmd
