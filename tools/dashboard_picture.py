#!/usr/bin/env python3
"""Draw monitoring/grafana-dashboard.json's panels from a Prometheus, as Grafana would lay them out.

Grafana cannot run here, so docs/monitoring.png is drawn by this: every panel's queries, asked
of Prometheus's ``/api/v1/query_range`` over the last ``--minutes``, plotted with matplotlib (the
controller extra) in the dashboard's grid, in the report's colours.

    python tools/dashboard_picture.py --prometheus http://127.0.0.1:9090 --minutes 5 \
        --out docs/monitoring.png [--note "where and when it was measured"]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "monitoring" / "grafana-dashboard.json"


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as got:
        body = json.loads(got.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--step", type=float, default=2.0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grpclab.report.picture import INK, MUTED, REPLICA_PALETTE

    board = json.loads(DASHBOARD.read_text())
    panels = board["panels"]
    rows = max(p["gridPos"]["y"] // 8 for p in panels) + 1
    fig, axes = plt.subplots(rows, 2, figsize=(16, 3.6 * rows), squeeze=False)
    end = time.time()
    start = end - args.minutes * 60
    for panel in panels:
        ax = axes[panel["gridPos"]["y"] // 8][panel["gridPos"]["x"] // 12]
        colour = 0
        for target in panel["targets"]:
            for series in query_range(args.prometheus, target["expr"], start, end, args.step):
                xs = [float(t) - start for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(
                    xs,
                    ys,
                    label=legend(target["legendFormat"], series["metric"]),
                    color=REPLICA_PALETTE[colour % len(REPLICA_PALETTE)],
                    linewidth=1.4,
                )
                colour += 1
        ax.set_title(panel["title"], loc="left", fontsize=11, color=INK)
        ax.set_xlim(0, end - start)
        ax.set_xlabel("seconds", fontsize=8, color=MUTED)
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        ax.set_ylabel({"reqps": "calls/s", "s": "seconds"}.get(unit, ""), fontsize=8, color=MUTED)
        ax.tick_params(labelsize=8, colors=MUTED)
        ax.grid(alpha=0.3)
        if colour:
            ax.legend(fontsize=7, loc="upper left", ncols=2, framealpha=0.8)
    title = board["title"] + (f" - {args.note}" if args.note else "")
    fig.suptitle(title, x=0.01, ha="left", fontsize=13, color=INK)
    fig.tight_layout()
    args.out.write_bytes(b"")
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
