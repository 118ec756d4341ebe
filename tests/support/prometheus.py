"""A real Prometheus for the tests (Debian's ``prometheus`` and ``promtool``, 2.53 from trixie).

``tool(name)`` finds the binary; without it a test skips and says why, except in CI (``CI=true``,
as .ci/run runs), where .ci/run installs it and its absence fails the test. ``start_prometheus``
runs one on a temporary folder with the project's alert rules, short scrape and evaluation
intervals, scraping the targets given, until its ``/-/ready`` answers; ``query`` and ``alerts``
read its HTTP API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from servers import REPO, START_TIMEOUT, _tail, ensure_free, spawn, stop

RULES = REPO / "monitoring" / "alerts.yml"
DASHBOARD = REPO / "monitoring" / "grafana-dashboard.json"
JOB = "grpclab-watch"  # the job the rules expect (monitoring/alerts.yml)


def tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; skip without it, fail in CI."""
    found = shutil.which(name)
    if found:
        return found
    reason = (
        f"{name} is not installed (Debian's prometheus from trixie: see .ci/run, which installs it)"
    )
    if os.environ.get("CI", "") == "true":
        pytest.fail(f"CI=true, but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen
    log: Path

    def get(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector of ``expr`` now."""
        return self.get("/api/v1/query", query=expr)["result"]

    def alerts(self, name: str) -> list[dict]:
        """The active alerts named ``name`` (pending or firing)."""
        return [a for a in self.get("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]

    def stop(self) -> None:
        stop(self.process)


def start_prometheus(
    folder: Path,
    listen: tuple[str, int],
    targets: Sequence[str],
    interval: str = "1s",
) -> Prometheus:
    """Prometheus scraping ``targets`` (HOST:PORT) as job grpclab-watch with the project's rules,
    scraping and evaluating every ``interval``."""
    binary = tool("prometheus")
    ensure_free([listen])
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": interval, "evaluation_interval": interval},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": JOB,
                        "scrape_timeout": interval,
                        "static_configs": [{"targets": list(targets)}],
                    }
                ],
            }
        )
    )
    log = folder / "prometheus.log"
    url = f"http://{listen[0]}:{listen[1]}"
    process = spawn(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={listen[0]}:{listen[1]}",
            "--storage.tsdb.retention.time=1h",
        ],
        log,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return Prometheus(url, process, log)
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"prometheus not ready after {START_TIMEOUT:g} s: {_tail(log)}")


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def wait_for(check, timeout: float, step: float = 0.5):
    """``check()`` until it returns something true, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(step)
