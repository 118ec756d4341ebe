"""Are the verdicts of churn runs the same? Compares the report.json of one churn.yml run (the
reference, e.g. before a change) with those of other runs (after it).

    python bench/bench_verdicts.py reports/<before>/report.json reports/<after>/report.json [...]

For every remedy x action of the reference: its verdict (pass, fail, error) and the outcome of
each check (metric: pass, fail, not judged), next to each other run's. A run missing in one of
them, or a verdict or a check's outcome that differs, is a difference. The figures themselves
(failed calls, times to reach every replica) are measured and vary from run to run: they are
shown for the checks that differ, not compared. Prints one line per run, then the count of
differences; exit 0 when there is none, 1 when there is one, 2 on a file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

Verdicts = dict[tuple[str, str], dict[str, Any]]


def verdicts(path: Path) -> Verdicts:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        runs = report["runs"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"bench_verdicts: cannot read the churn report {path}: {error}")
    found: Verdicts = {}
    for run in runs:
        checks = {c["metric"]: c["outcome"] for c in run.get("checks") or []}
        seen = {c["metric"]: c["seen"] for c in run.get("checks") or []}
        found[(run["remedy"], run["action"])] = {
            "verdict": run["verdict"],
            "checks": checks,
            "seen": seen,
        }
    return found


def differences(reference: Verdicts, other: Verdicts) -> dict[tuple[str, str], str]:
    """What differs, by run: a missing run, the verdict, or a check's outcome."""
    found = {}
    for key in list(reference) + [k for k in other if k not in reference]:
        if key not in other or key not in reference:
            found[key] = "missing in " + ("the other" if key not in other else "the reference")
            continue
        before, after = reference[key], other[key]
        if before["verdict"] != after["verdict"]:
            found[key] = f"verdict {before['verdict']} -> {after['verdict']}"
            continue
        metrics = list(dict.fromkeys([*before["checks"], *after["checks"]]))
        changed = [
            f"{m} {before['checks'].get(m, '-')} ({before['seen'].get(m, '')}) -> "
            f"{after['checks'].get(m, '-')} ({after['seen'].get(m, '')})"
            for m in metrics
            if before["checks"].get(m) != after["checks"].get(m)
        ]
        if changed:
            found[key] = "; ".join(changed)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the report.json to compare against")
    parser.add_argument("others", type=Path, nargs="+", help="report.json of the other runs")
    args = parser.parse_args()
    reference = verdicts(args.reference)
    others = [verdicts(path) for path in args.others]
    found = [differences(reference, other) for other in others]
    keys = list(dict.fromkeys([*reference, *(k for other in others for k in other)]))
    print(
        f"{'remedy':<20} {'action':<16} {'reference':<10} "
        + " ".join(f"{'run ' + str(i + 1):<8}" for i in range(len(others)))
    )
    total = 0
    for key in keys:
        cells = [reference.get(key, {}).get("verdict", "-")]
        cells += [other.get(key, {}).get("verdict", "-") for other in others]
        marks = ["same" if key not in diff else "DIFFERS" for diff in found]
        line = f"{key[0]:<20} {key[1]:<16} {cells[0]:<10} " + " ".join(
            f"{cell:<8}" for cell in cells[1:]
        )
        print(line + "   " + " ".join(marks))
        for i, diff in enumerate(found):
            if key in diff:
                total += 1
                print(f"    run {i + 1}: {diff[key]}")
    checks = sum(len(v["checks"]) for v in reference.values())
    print(
        f"{len(reference)} runs, {checks} checks in the reference; {len(others)} other run(s): "
        f"{total} difference(s)"
    )
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
