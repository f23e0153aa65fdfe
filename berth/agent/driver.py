"""The driver port: how the agent builds an instance on its host.

A driver answers one question: given a build assignment, did the instance
come up on this host? ``FakeDriver`` answers it without a hypervisor, with a
configurable latency and failure rate, and decides each outcome from a
seeded hash of (instance uuid, attempt) so that a test or a benchmark run
twice sees the same failures.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from berth.conductor.reports import FailureKind


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, slots=True)
class BuildRequest:
    """One attempt at building one instance on this host."""

    build_id: str
    instance_uuid: str
    attempt: int
    # Provider uuid -> resource class -> amount: what was claimed for it here.
    allocations: Mapping[str, Mapping[str, int]]


@dataclasses.dataclass(frozen=True, slots=True)
class BuildResult:
    outcome: Outcome
    reason: str
    failure_kind: FailureKind | None = None

    @classmethod
    def succeeded(cls, reason: str) -> BuildResult:
        return cls(Outcome.SUCCEEDED, reason)

    @classmethod
    def failed(cls, kind: FailureKind, reason: str) -> BuildResult:
        return cls(Outcome.FAILED, reason, kind)


class Driver(Protocol):
    """Builds instances on one host. ``build`` blocks until the instance is
    up or has failed; it is called from several threads at once, for
    different attempts. An exception counts as a hardware failure."""

    def build(self, request: BuildRequest) -> BuildResult: ...


@dataclasses.dataclass(frozen=True, slots=True)
class FakeDriverOptions:
    # Seconds a build takes: ``latency`` plus a seeded share of ``latency_jitter``.
    latency: float = 0.0
    latency_jitter: float = 0.0
    # The fraction of attempts that fail, 0..1.
    failure_rate: float = 0.0
    # Relative weights of the kinds a failure takes.
    failure_kinds: Mapping[FailureKind, float] = dataclasses.field(
        default_factory=lambda: {kind: 1.0 for kind in FailureKind}
    )
    # Changes every decision while keeping each one reproducible.
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency < 0 or self.latency_jitter < 0:
            raise ValueError("build latency and its jitter cannot be negative")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure rate {self.failure_rate} is not between 0 and 1")
        if any(weight < 0 for weight in self.failure_kinds.values()):
            raise ValueError("failure kind weights cannot be negative")
        if self.failure_rate > 0 and not any(self.failure_kinds.values()):
            raise ValueError("a failure rate needs at least one failure kind with a weight")


_REASONS = {
    FailureKind.RESOURCE_RACE: "resources claimed for the instance were no longer free on the host",
    FailureKind.NETWORK: "the instance's network port could not be bound",
    FailureKind.HARDWARE: "the host reported a hardware error while spawning",
}


class FakeDriver:
    """A driver without a hypervisor: sleeps, then succeeds or fails as the
    seeded hash of (instance uuid, attempt) says."""

    def __init__(
        self, options: FakeDriverOptions, host: str = "fake-host",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self.host = host
        self._sleep = sleep

    def build(self, request: BuildRequest) -> BuildResult:
        self._sleep(self.latency(request))
        return self.decide(request)

    def latency(self, request: BuildRequest) -> float:
        return self.options.latency + self.options.latency_jitter * self._draw("latency", request)

    def decide(self, request: BuildRequest) -> BuildResult:
        """The outcome of this attempt; the same for the same options and attempt."""
        if self._draw("fails", request) >= self.options.failure_rate:
            return BuildResult.succeeded(f"built on {self.host}")
        kind = self._pick_kind(self._draw("kind", request))
        return BuildResult.failed(kind, f"{kind.value} on {self.host}: {_REASONS[kind]}")

    def _pick_kind(self, draw: float) -> FailureKind:
        weighted = [(kind, w) for kind, w in self.options.failure_kinds.items() if w > 0]
        total = sum(weight for _, weight in weighted)
        threshold = draw * total
        for kind, weight in weighted:
            threshold -= weight
            if threshold < 0:
                return kind
        return weighted[-1][0]

    def _draw(self, purpose: str, request: BuildRequest) -> float:
        """A number in [0, 1) fixed by the seed, the purpose and the attempt.
        A hash rather than a random generator: the outcome must not depend on
        the order in which attempts reach this or any other agent."""
        key = f"{self.options.seed}:{purpose}:{request.instance_uuid}:{request.attempt}"
        digest = hashlib.sha256(key.encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
