"""Alternate ids that any berth process of a deployment can claim, and the
recent build failures the build-failure weigher reads.

An alternate's id *is* the alternate (seed 03's suggestion, without a
book): its consumer, owner, host, cell, allocation request and expiry,
signed with an HMAC under the deployment's
``[scheduler] alternate_secret``. A claim needs no state shared between
processes beyond that secret and the store, so it may land on any worker
of ``berth serve --workers N`` or on another machine. The signature proves
that berth issued the id and that nothing in it was changed; the claim
itself is still a compare-and-set in the store (scheduler.py), which is
what keeps a claim, or the same claim twice, from over-committing.

Layout of an id, base64url without padding:
``version (1 byte) | tag (16 bytes) | JSON body``; the tag is
HMAC-SHA256 over the version and the body, truncated to 128 bits. The
body is checked before it is parsed, so an id that berth did not sign
costs one HMAC, never a parse. The body is not compressed: zlib saves
about a fifth of a 260-byte body and costs more than the rest of issuing
an id (a scheduler issues one per alternate).
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable

import msgspec
import orjson

from berth.placement.candidates.result import AllocationRequest

VERSION = 2
_TAG_BYTES = 16
# Ids are a few hundred characters; anything far longer was not issued by
# berth and is refused before any decoding.
MAX_ID_LENGTH = 2048
_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]+")


class HeldAlternate(msgspec.Struct, frozen=True):
    """What an alternate's id stands for."""

    consumer_uuid: str
    project_id: str
    user_id: str
    consumer_type: str
    provider_uuid: str
    cell: str | None
    allocation_request: AllocationRequest
    # Seconds since the epoch after which the id is refused.
    expires_at: float


class InvalidAlternateId(Exception):
    """An id that cannot be claimed; the message says why (malformed, not
    signed under this deployment's secret, or expired)."""


class AlternateIds:
    """Issues signed alternate ids and reads them back.

    Every process that shares ``secret`` reads the ids any of them issued.
    ``ttl`` is how long an id stays claimable, in seconds.
    """

    def __init__(self, secret: bytes, ttl: float, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("an alternate secret must not be empty")
        # Keyed once: a copy per id skips hashing the padded key again.
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)
        self.ttl = ttl
        self.clock = clock

    def issue(
        self, *, consumer_uuid: str, project_id: str, user_id: str, consumer_type: str,
        provider_uuid: str, cell: str | None, allocation_request: AllocationRequest,
    ) -> tuple[str, HeldAlternate]:
        """The id of a new alternate, and what it stands for."""
        held = HeldAlternate(
            consumer_uuid, project_id, user_id, consumer_type, provider_uuid, cell,
            allocation_request, round(self.clock() + self.ttl, 3),
        )
        body = orjson.dumps(_body_of(held))
        head = bytes([VERSION])
        raw = head + self._tag(head + body) + body
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"), held

    def read(self, alternate_id: str) -> HeldAlternate:
        """What the id stands for. Raises InvalidAlternateId when it is
        malformed, was not signed under this secret (tampered with, or
        issued by another deployment), or has expired."""
        raw = _decode(alternate_id)
        head, tag, body = raw[:1], raw[1:1 + _TAG_BYTES], raw[1 + _TAG_BYTES:]
        if head[0] != VERSION:
            raise InvalidAlternateId(f"unknown alternate id version {head[0]}")
        if not hmac.compare_digest(tag, self._tag(head + body)):
            raise InvalidAlternateId(
                "the signature does not match: the id was changed, or issued under another alternate_secret"
            )
        try:
            held = _held_of(orjson.loads(body))
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            # Signed by a secret we share but not in the layout this release
            # reads: a release with another layout would bump VERSION.
            raise InvalidAlternateId(f"the id's content cannot be read ({exc})") from None
        if held.expires_at <= self.clock():
            expired = datetime.datetime.fromtimestamp(held.expires_at, datetime.UTC)
            raise InvalidAlternateId(f"the id expired at {expired.isoformat(timespec='seconds')}")
        return held

    def _tag(self, signed: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(signed)
        return mac.digest()[:_TAG_BYTES]


def _decode(alternate_id: str) -> bytes:
    if len(alternate_id) > MAX_ID_LENGTH or not _ID_SHAPE.fullmatch(alternate_id):
        raise InvalidAlternateId("not an alternate id (malformed)")
    try:
        raw = base64.urlsafe_b64decode(alternate_id + "=" * (-len(alternate_id) % 4))
    except (binascii.Error, ValueError):
        raise InvalidAlternateId("not an alternate id (malformed)") from None
    if len(raw) <= 1 + _TAG_BYTES:
        raise InvalidAlternateId("not an alternate id (too short)")
    return raw


def _body_of(held: HeldAlternate) -> list:
    request = held.allocation_request
    return [
        held.consumer_uuid, held.project_id, held.user_id, held.consumer_type,
        held.provider_uuid, held.cell,
        {rp: dict(resources) for rp, resources in request.allocations.items()},
        {suffix: list(rps) for suffix, rps in request.mappings.items()},
        held.expires_at,
    ]


def _held_of(body: list) -> HeldAlternate:
    consumer, project, user, consumer_type, provider, cell, allocations, mappings, expires_at = body
    request = AllocationRequest(
        {str(rp): {str(rc): int(n) for rc, n in resources.items()} for rp, resources in allocations.items()},
        {str(suffix): tuple(str(rp) for rp in rps) for suffix, rps in mappings.items()},
    )
    return HeldAlternate(
        str(consumer), str(project), str(user), str(consumer_type), str(provider),
        None if cell is None else str(cell), request, float(expires_at),
    )


class BuildFailures:
    """Recent build failures per host, forgotten after ``window`` seconds."""

    def __init__(self, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._events: collections.deque[tuple[float, str]] = collections.deque()
        self._lock = threading.Lock()

    def record(self, host: str) -> None:
        with self._lock:
            self._events.append((self.clock(), host))

    def counts(self) -> dict[str, int]:
        with self._lock:
            horizon = self.clock() - self.window
            while self._events and self._events[0][0] <= horizon:
                self._events.popleft()
            if not self._events:
                return {}
            return dict(collections.Counter(host for _, host in self._events))
