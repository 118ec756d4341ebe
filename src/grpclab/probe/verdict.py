"""The verdict: what a probe's tallies show, and whether that is what the scenario promises.

Pure functions over per-connection tallies (which replica answered each successful call, failed
calls by status code name, latencies); no I/O, so every rule is unit-tested on synthetic tallies.

Rules (DESIGN.md, "The probe"):

- ``spread``: every connection reached every expected replica, every replica got at least
  ``min_share`` of its fair share (1 / expected replicas) of the successful calls, and the
  error rate is at most ``max_error_rate``.
- ``pinned``: every connection reached exactly one replica, error rate at most ``max_error_rate``.
- ``none``: always passes; the statistics and the observed pattern are still reported.

A connection with no successful call proves nothing either way, so it fails both verdicts. With
``replicas`` not given the expected replicas are the ones seen (and a warning says so); ``spread``
then fails when only one replica answered, as nothing shows the calls could have gone elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grpclab.probe.model import (
    FAILED,
    MIXED,
    NONE,
    PINNED,
    SPREAD,
    UNIDENTIFIED,
    ConnectionReport,
    Expectation,
    ReplicaShare,
    Tally,
    Totals,
    Verdict,
)
from grpclab.probe.stats import jain_index, latency_ms, pinned_chance, spread_chance

# above this chance that per-request balancing fails spread by luck, the probe warns; a spread
# verdict not met is then not judged (the probe sizes its calls for 1e-6, see grpclab.probe.sizing)
LUCK_LIMIT = 0.001

# the summary lists every share up to this many replicas, else only the range
_MAX_SHARES_LISTED = 6


def observed_pattern(tallies: Sequence[Tally]) -> str:
    """``failed`` (no successful call), ``pinned`` (every connection that got an answer got it
    from one replica), ``spread`` (every such connection reached every replica seen, and more
    than one was seen), else ``mixed``."""
    answered = [t for t in tallies if t.ok > 0]
    if not answered:
        return FAILED
    if all(len(t.replicas_reached()) == 1 for t in answered):
        return PINNED
    seen = set().union(*(t.replicas_reached() for t in answered))
    if all(t.replicas_reached() == seen for t in answered):
        return SPREAD
    return MIXED


def _format_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()) if count)


def _format_failures(failures: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {count}" for code, count in failures.items())


def _share_list(shares: Sequence[ReplicaShare]) -> str:
    values = [r.share for r in shares]
    if len(values) <= _MAX_SHARES_LISTED:
        return "shares " + "/".join(f"{v:.2f}" for v in values)
    return f"shares {min(values):.2f} to {max(values):.2f}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _describe(
    observed: str,
    tallies: Sequence[Tally],
    shares: Sequence[ReplicaShare],
    expected: int,
    ok: int,
    failed: int,
) -> str:
    """The 'what was seen' half of the summary line."""
    k = len(tallies)
    seen = len(shares)
    where = "the only connection" if k == 1 else f"each of {k} connections"
    if observed == FAILED:
        return "no call succeeded on " + (
            "the only connection" if k == 1 else f"any of {k} connections"
        )
    calls = f"all {ok} successful calls" if failed else f"all {ok} calls"
    if seen == 1 and expected <= 1:
        return (
            f"1 replica served {calls} on {where} "
            "(with one replica, pinned and spread look the same)"
        )
    if seen == 1:
        return f"1 of {expected} replicas served {calls} on {where}"
    if observed == PINNED:
        return (
            f"each of {k} connections stayed on 1 replica ({seen} of {expected} replicas "
            f"used: {_format_counts({r.name: r.calls for r in shares})})"
        )
    if observed == SPREAD:
        of_expected = f"all {seen}" if seen >= expected else f"{seen} of {expected}"
        return f"{where} reached {of_expected} replicas ({_share_list(shares)})"
    answered = [t for t in tallies if t.ok > 0]
    sizes = sorted(len(t.replicas_reached()) for t in answered)
    full = sum(1 for size in sizes if size >= max(expected, seen))
    return (
        f"connections reached {sizes[0]} to {sizes[-1]} of {max(expected, seen)} replicas "
        f"({full} of {k} reached all; {_share_list(shares)})"
    )


def judge(tallies: Sequence[Tally], expectation: Expectation) -> Verdict:
    """The statistics of a probe and its verdict against ``expectation``."""
    ok = sum(t.ok for t in tallies)
    failed = sum(t.failed for t in tallies)
    calls = ok + failed
    failures: dict[str, int] = {}
    for tally in tallies:
        for code, count in tally.failures.items():
            if count:
                failures[code] = failures.get(code, 0) + count
    failures = dict(sorted(failures.items()))
    error_rate = failed / calls if calls else 0.0

    per_replica: dict[str, int] = {}
    reached_by: dict[str, int] = {}
    for tally in tallies:
        for name, count in tally.replicas.items():
            if count:
                per_replica[name] = per_replica.get(name, 0) + count
                reached_by[name] = reached_by.get(name, 0) + 1
    shares = [
        ReplicaShare(
            name=name, calls=count, share=round(count / ok, 4), connections=reached_by[name]
        )
        for name, count in sorted(per_replica.items())
    ]
    seen = len(shares)

    warnings: list[str] = []
    assumed = expectation.replicas is None
    expected = seen if assumed else int(expectation.replicas)  # type: ignore[arg-type]
    if assumed:
        warnings.append(
            f"--replicas not given: expecting the {_plural(seen, 'replica')} seen; "
            "a replica that got no call at all goes unnoticed"
        )
    elif seen > expected:
        warnings.append(
            f"saw {seen} distinct replicas but {expected} were expected: "
            f"{', '.join(r.name for r in shares)}"
        )

    observed = observed_pattern(tallies)
    if seen == 1 and expected == 1:
        warnings.append(
            "only one replica answered and one was expected: pinned and spread cannot be told apart"
        )
    if len(tallies) == 1 and observed == PINNED:
        warnings.append(
            "only one connection: it shows calls stay on one replica, "
            "not how connections are balanced"
        )
    answered_calls = [t.ok for t in tallies if t.ok]
    judged_replicas = max(expected, seen)
    chance: float | None = None
    if expectation.expect != PINNED and seen > 1:
        # a connection with no answer at all is a reason of its own, not a matter of chance
        chance = spread_chance(answered_calls, judged_replicas, expectation.min_share)
        if chance > LUCK_LIMIT:
            warnings.append(
                f"with {min(answered_calls)} successful calls on a connection, even "
                f"per-request balancing fails spread by chance up to {chance:.1%} of the time "
                f"(a connection missing one of {judged_replicas} replicas, or a share below "
                f"{expectation.min_share:g} of fair): use more --calls per connection"
            )
    unidentified = next((t.unidentified for t in tallies if t.unidentified), None)
    if failures.get(UNIDENTIFIED):
        warnings.append(
            f"{failures[UNIDENTIFIED]} replies named no replica: counted as failed "
            "(UNIDENTIFIED); "
            + (
                "the summary shows the specs tried and what the first reply carried: "
                "write an --identity spec from it"
                if unidentified
                else "no identity spec matched"
            )
        )

    # fairness over the expected replicas: an expected replica that got nothing counts as 0
    jain = jain_index([float(r.calls) for r in shares], count=expected)

    reasons: list[str] = []
    if expectation.expect != NONE:
        reasons = _reasons(
            expectation, tallies, shares, expected, ok, calls, failed, error_rate, failures
        )
    passed = not reasons
    # a spread that was not met with so few calls could be luck, unless the connections stayed
    # pinned: per-request balancing all but never does that
    cannot_judge = (
        expectation.expect == SPREAD
        and not passed
        and chance is not None
        and chance > LUCK_LIMIT
        and not (
            observed == PINNED and pinned_chance(answered_calls, judged_replicas) <= LUCK_LIMIT
        )
    )
    if cannot_judge:
        warnings.append(
            "with so few calls per connection the spread verdict cannot be "
            "trusted: it is not judged (exit status 2); use more --calls, or leave "
            "--calls out so the probe sizes itself"
        )

    connections = [
        ConnectionReport(
            index=i,
            calls=t.calls,
            failed=t.failed,
            replicas={n: c for n, c in sorted(t.replicas.items()) if c},
        )
        for i, t in enumerate(tallies)
    ]
    all_latencies: list[float] = []
    for tally in tallies:
        all_latencies.extend(tally.latencies_s)

    summary = _describe(observed, tallies, shares, expected, ok, failed)
    if failed:
        summary += f"; {failed} of {calls} calls failed ({_format_failures(failures)})"
    summary += (
        f"; expected {expectation.expect}" if expectation.expect != NONE else "; no expectation"
    )
    if reasons:
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        verdict = "cannot judge with so few calls" if cannot_judge else "not met"
        summary += f": {verdict}, {reasons[0]}{more}"
    if failures.get(UNIDENTIFIED) and unidentified:
        summary += f" (replies naming no replica: {unidentified})"

    return Verdict(
        expect=expectation.expect,
        observed=observed,
        passed=passed,
        summary=summary,
        expected_replicas=expected,
        replicas_assumed=assumed,
        replicas=shares,
        connections=connections,
        jain_index=None if jain is None else round(jain, 4),
        latency_ms=latency_ms(all_latencies),
        totals=Totals(calls=calls, ok=ok, failed=failed),
        failures=failures,
        error_rate=round(error_rate, 4),
        reasons=reasons,
        warnings=warnings,
        cannot_judge=cannot_judge,
        spread_chance=None if chance is None else float(f"{chance:.3g}"),
    )


def _reasons(
    expectation: Expectation,
    tallies: Sequence[Tally],
    shares: Sequence[ReplicaShare],
    expected: int,
    ok: int,
    calls: int,
    failed: int,
    error_rate: float,
    failures: Mapping[str, int],
) -> list[str]:
    """Every criterion of ``expectation.expect`` that the tallies miss, most telling first."""
    reasons: list[str] = []
    if calls == 0:
        return ["no call was made"]
    if ok == 0:
        return [f"no call succeeded ({_format_failures(failures)})"]

    silent = [i for i, t in enumerate(tallies) if t.ok == 0]
    answered = [(i, t) for i, t in enumerate(tallies) if t.ok > 0]
    seen = len(shares)

    if expectation.expect == SPREAD:
        if seen == 1 and expectation.replicas is None:
            # one replica, none announced: nothing shows the calls could have gone elsewhere
            reasons.append(
                "only one replica answered and --replicas was not given: spread "
                "cannot be shown (pass --replicas 1 if one replica is all there is)"
            )
        names = {r.name for r in shares}
        short = [(i, t) for i, t in answered if len(t.replicas_reached()) < expected]
        if short:  # the heart of it: a connection stuck on some replicas
            i, t = short[0]
            missing = sorted(names - t.replicas_reached())
            if seen < expected:
                missing.append(f"{_plural(expected - seen, 'replica')} that never answered")
            reasons.append(
                f"{len(short)} of {len(tallies)} connections did not reach every replica: "
                f"connection {i} reached {len(t.replicas_reached())} of {expected} "
                f"(missing {', '.join(missing)})"
            )
        if seen < expected:
            reasons.append(f"only {seen} of {expected} expected replicas answered")
        elif seen > expected:
            reasons.append(f"{seen} replicas answered but {expected} were expected")
        fair = 1.0 / max(expected, seen)
        floor = expectation.min_share * fair
        low = [r for r in shares if r.calls / ok < floor]
        if low:
            listed = ", ".join(f"{r.name} {r.calls / ok:.3f}" for r in low)
            reasons.append(
                f"share below {expectation.min_share:g} x fair share {fair:.3f} "
                f"= {floor:.3f}: {listed}"
            )
    elif expectation.expect == PINNED:
        wide = [(i, t) for i, t in answered if len(t.replicas_reached()) > 1]
        if wide:
            i, t = wide[0]
            reasons.append(
                f"{len(wide)} of {len(tallies)} connections reached more than one replica: "
                f"connection {i} reached {_format_counts(t.replicas)}"
            )

    if silent:
        listed = ", ".join(str(i) for i in silent[:8]) + ("..." if len(silent) > 8 else "")
        reasons.append(f"{_plural(len(silent), 'connection')} had no successful call ({listed})")
    if error_rate > expectation.max_error_rate:
        reasons.append(
            f"error rate {error_rate:.3f} ({failed} of {calls} calls) above "
            f"--max-error-rate {expectation.max_error_rate:g}"
        )
    return reasons
