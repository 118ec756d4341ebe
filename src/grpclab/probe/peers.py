"""``--identity peer``: calls per peer address of each connection, from gRPC's channelz.

gRPC Python does not tell a client call which address it went to, but gRPC's core counts the
calls of every subchannel (one per address the channel's policy connects to) in channelz, which
is on by default. With ``round_robin`` over an ``ipv4:`` list or a headless Service's DNS name,
each subchannel is a pod: its successful calls are the calls that pod answered, with nothing
asked of the server. Counts are read per connection before and after the calls; the difference
is that connection's tally.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence

from grpc._cython import cygrpc  # channelz's reader; grpcio-channelz wraps the same calls

from grpclab.probe.identity import Spec
from grpclab.probe.model import UNIDENTIFIED, Tally

Counts = dict[str, int]  # successful calls per subchannel address


def top_channels(target: str) -> list[int]:
    """channelz ids of this process's channels to ``target``, oldest first (channelz writes a
    target without a scheme as ``dns:///target``)."""
    names = {target, f"dns:///{target}"}
    ids: list[int] = []
    start = 0
    while True:
        page = json.loads(cygrpc.channelz_get_top_channels(start))
        for channel in page.get("channel", []):
            ref = int(channel["ref"]["channelId"])
            if channel.get("data", {}).get("target") in names:
                ids.append(ref)
            start = max(start, ref + 1)
        if page.get("end", True) or not page.get("channel"):
            return sorted(ids)


def _address(target: str) -> str:
    scheme, _, rest = target.partition(":")
    return urllib.parse.unquote(rest) if scheme in ("ipv4", "ipv6") else target


def subchannel_counts(channel_id: int) -> Counts:
    channel = json.loads(cygrpc.channelz_get_channel(channel_id)).get("channel", {})
    counts: Counts = {}
    for ref in channel.get("subchannelRef", []):
        sub = json.loads(cygrpc.channelz_get_subchannel(int(ref["subchannelId"])))
        data = sub.get("subchannel", {}).get("data", {})
        address = _address(data.get("target", "?"))
        counts[address] = counts.get(address, 0) + int(data.get("callsSucceeded", 0))
    return counts


def snapshot(ids: Sequence[int]) -> list[Counts]:
    return [subchannel_counts(i) for i in ids]


def tallies_by_peer(
    tallies: Sequence[Tally], before: Sequence[Counts], after: Sequence[Counts], spec: Spec
) -> list[Tally]:
    """The loop's tallies (every answer UNIDENTIFIED, no spec read a reply) with the answers
    put on the peers channelz counted; a peer the spec's ~REGEX does not match stays
    UNIDENTIFIED."""
    result = []
    for tally, old, new in zip(tallies, before, after, strict=True):
        fixed = Tally(failures=dict(tally.failures), latencies_s=list(tally.latencies_s))
        answered = fixed.failures.pop(UNIDENTIFIED, 0)
        placed = 0
        for address, count in sorted(new.items()):
            delta = min(count - old.get(address, 0), answered - placed)
            if delta <= 0:
                continue
            name = spec.pick(address)
            if name is None:
                fixed.failures[UNIDENTIFIED] = fixed.failures.get(UNIDENTIFIED, 0) + delta
                fixed.unidentified = f"tried {spec.text}; peer {address}"
            else:
                fixed.replicas[name] = fixed.replicas.get(name, 0) + delta
            placed += delta
        if answered > placed:  # answers channelz did not count: none expected
            fixed.failures[UNIDENTIFIED] = fixed.failures.get(UNIDENTIFIED, 0) + answered - placed
            fixed.unidentified = fixed.unidentified or f"tried {spec.text}; no peer counted"
        result.append(fixed)
    return result
