"""Why a request landed where it did, or why it could not land at all.

Collected while the pipeline runs, as Nomad's AllocMetric: each filter
records the hosts it removed and the reason it gave, so "no valid host"
costs nothing extra to explain. The query stage (the candidate index) is
explained by counting, per requirement, the providers that meet it
(diagnosis.py), only when it found nothing.
"""

from __future__ import annotations

import collections

import msgspec

# How many rejected hosts an explanation lists.
CLOSEST_HOSTS = 5


class RequirementCount(msgspec.Struct, frozen=True):
    """How many hosts (provider trees) meet one requirement of the query on
    its own, e.g. ``VCPU:4`` -> 12 hosts with room for it."""

    requirement: str
    hosts: int


class FilterOutcome(msgspec.Struct, frozen=True):
    """What one filter did: hosts it saw, hosts it removed, and why."""

    name: str
    considered: int
    removed: int
    reasons: tuple[tuple[str, int], ...] = ()


class RejectedHost(msgspec.Struct, frozen=True):
    """A host that did not make it, with every reason it was refused."""

    provider_uuid: str
    cell: str | None
    reasons: tuple[str, ...]


class WeightDetail(msgspec.Struct, frozen=True):
    """One weigher's part in a host's weight: raw value, after the one
    normalisation stage (0..1 over the hosts weighed), and times the
    multiplier."""

    weigher: str
    raw: float
    normalised: float
    multiplier: float

    @property
    def weighted(self) -> float:
        return self.normalised * self.multiplier


class ChosenWeights(msgspec.Struct, frozen=True):
    consumer_uuid: str
    provider_uuid: str
    total: float
    details: tuple[WeightDetail, ...]


class Explanation(msgspec.Struct, frozen=True):
    """``candidates``: hosts the query returned (``hosts`` in the fleet);
    ``query``: per-requirement counts when the query came back
    empty; ``filters``: what each Python filter removed (first instance's
    pass, or the failing pass); ``closest``: rejected hosts with the fewest
    reasons; ``chosen``: the weights of each chosen host."""

    candidates: int
    hosts: int = 0
    query: tuple[RequirementCount, ...] = ()
    filters: tuple[FilterOutcome, ...] = ()
    closest: tuple[RejectedHost, ...] = ()
    chosen: tuple[ChosenWeights, ...] = ()
    unplaced: int = 0

    def summary(self) -> str:
        """One sentence for logs and error details."""
        if self.candidates == 0:
            short = [f"{q.requirement} (no host)" for q in self.query if q.hosts == 0]
            scarce = ", ".join(short) or ", ".join(f"{q.requirement} ({q.hosts} hosts)" for q in self.query)
            return f"No valid host: no host meets the whole request; {scarce or 'no hosts'}."
        removed = ", ".join(f"{f.name} removed {f.removed}" for f in self.filters if f.removed)
        text = f"No valid host: {self.candidates} candidate hosts"
        if removed:
            text += f"; {removed}"
        if self.unplaced:
            text += f"; {self.unplaced} instance(s) could not be placed"
        return text + "."

    def describe(self) -> str:
        """The whole explanation in sentences (for an error's detail)."""
        parts = [self.summary()]
        for outcome in self.filters:
            if outcome.removed:
                why = "; ".join(f"{reason} ({count})" for reason, count in outcome.reasons)
                parts.append(f"Filter {outcome.name} removed {outcome.removed} of {outcome.considered}: {why}.")
        if self.query:
            counts = ", ".join(f"{q.requirement}: {q.hosts}" for q in self.query)
            parts.append(f"Hosts meeting each requirement of {self.hosts}: {counts}.")
        for host in self.closest:
            parts.append(f"Closest: {host.provider_uuid} ({'; '.join(host.reasons)}).")
        return " ".join(parts)


class FilterMetrics:
    """The per-filter tally a pipeline pass writes into (mutable; one per
    pass, turned into FilterOutcomes at the end). Filters run in order and
    the first refusal ends a host's pass, so the hosts a filter considered
    are the hosts judged less those removed by the filters before it: only
    ``judged`` and ``removed_by`` are counted as the pass goes."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.hosts = 0
        self.removed: dict[str, int] = dict.fromkeys(names, 0)
        # Only filters that removed a host have reasons (most remove none).
        self.reasons: dict[str, collections.Counter] = {}

    def judged(self, hosts: int) -> None:
        """``hosts`` more hosts start the pass."""
        self.hosts += hosts

    def removed_by(self, name: str, reason: str) -> None:
        self.removed[name] += 1
        reasons = self.reasons.get(name)
        if reasons is None:
            reasons = self.reasons[name] = collections.Counter()
        reasons[reason] += 1

    def outcomes(self) -> tuple[FilterOutcome, ...]:
        outcomes = []
        remaining = self.hosts
        for name in self.names:
            reasons = self.reasons.get(name)
            outcomes.append(FilterOutcome(
                name, remaining, self.removed[name], tuple(reasons.most_common(5)) if reasons else (),
            ))
            remaining -= self.removed[name]
        return tuple(outcomes)
