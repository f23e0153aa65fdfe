"""Microversions: the list of versions, negotiation, and versioned handlers.

A request names its version with ``OpenStack-API-Version: placement X.Y``
(or ``latest``); without the header it gets the oldest version, 1.0. The
header is parsed by the ``microversion-parse`` library, as Placement does.
A handler declares the range of versions it serves with ``@versioned``; a
route may list several handlers for one method whose ranges must tile the
versions from the first one to the newest (tests/unit/api checks this).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import microversion_parse

SERVICE_TYPE = "placement"
HEADER = microversion_parse.STANDARD_HEADER  # "openstack-api-version"

# One line of history per version. Never remove or reorder an entry.
VERSIONS: tuple[str, ...] = (
    "1.0",   # Initial API: resource providers, inventories, usages, allocations
    "1.1",   # GET/PUT /resource_providers/{uuid}/aggregates
    "1.2",   # /resource_classes
    "1.3",   # member_of=in:... on GET /resource_providers
    "1.4",   # resources=RC:N,... on GET /resource_providers
    "1.5",   # DELETE /resource_providers/{uuid}/inventories
    "1.6",   # /traits and /resource_providers/{uuid}/traits
    "1.7",   # PUT /resource_classes/{name} is a bodiless create-or-verify
    "1.8",   # project_id and user_id required in PUT /allocations/{consumer}
    "1.9",   # GET /usages
    "1.10",  # GET /allocation_candidates
    "1.11",  # 'allocations' link in resource provider links
    "1.12",  # dict form of PUT /allocations/{consumer}; project/user in GET
    "1.13",  # POST /allocations for many consumers at once
    "1.14",  # nested providers: parent/root uuids and in_tree
    "1.15",  # last-modified and cache-control headers
    "1.16",  # limit on GET /allocation_candidates
    "1.17",  # required traits on GET /allocation_candidates
    "1.18",  # required traits on GET /resource_providers
    "1.19",  # generation in provider aggregates GET/PUT, 409 on conflict
    "1.20",  # POST /resource_providers answers 200 with the provider
    "1.21",  # member_of on GET /allocation_candidates
    "1.22",  # forbidden traits (!TRAIT) in required
    "1.23",  # 'code' in error bodies
    "1.24",  # repeated member_of on GET /resource_providers
    "1.25",  # granular request groups on GET /allocation_candidates
    "1.26",  # inventory reserved may equal total
    "1.27",  # all inventories of a provider in provider_summaries
    "1.28",  # consumer generations
    "1.29",  # nested providers in allocation candidates
    "1.30",  # POST /reshaper
    "1.31",  # in_tree on GET /allocation_candidates
    "1.32",  # forbidden aggregates: member_of=!agg and !in:
    "1.33",  # string request group suffixes
    "1.34",  # mappings in allocation requests (accepted in allocation writes)
    "1.35",  # root_required on GET /allocation_candidates
    "1.36",  # same_subtree on GET /allocation_candidates
    "1.37",  # re-parenting and un-parenting providers
    "1.38",  # consumer_type in allocations, usages and the reshaper
    "1.39",  # required=in:A,B and repeated required
)

Version = microversion_parse.Version


def parse(text: str) -> Version:
    """Turn ``"X.Y"`` into a comparable Version (raises TypeError)."""
    return microversion_parse.parse_version_string(text)


MIN_VERSION = parse(VERSIONS[0])
MAX_VERSION = parse(VERSIONS[-1])


class VersionNotAcceptable(ValueError):
    """The header names a version outside VERSIONS (answered 406)."""


class MalformedVersion(TypeError):
    """The header cannot be parsed as a version (answered 400)."""


def negotiate(headers: Mapping[str, str]) -> Version:
    """The version a request asks for; raises VersionNotAcceptable or
    MalformedVersion with microversion-parse's message."""
    try:
        version = microversion_parse.extract_version(headers, SERVICE_TYPE, VERSIONS)
    except ValueError as exc:
        raise VersionNotAcceptable(f"Invalid microversion: {exc}") from None
    except TypeError as exc:
        raise MalformedVersion(f"Invalid microversion: {exc}") from None
    return version


def header_value(version: Version) -> str:
    return f"{SERVICE_TYPE} {version}"


@dataclasses.dataclass(frozen=True, slots=True)
class VersionRange:
    """The versions one handler serves, both ends included."""

    minimum: Version
    maximum: Version
    # What a request below ``minimum`` gets when no other handler serves it.
    status_below: int = 404

    def __contains__(self, version: object) -> bool:
        return self.minimum <= version <= self.maximum  # type: ignore[operator]


def versioned(
    minimum: str, maximum: str | None = None, *, status_below: int = 404
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the versions a handler serves (``maximum`` defaults to the
    newest)."""
    span = VersionRange(parse(minimum), parse(maximum or VERSIONS[-1]), status_below)

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        handler.version_range = span  # type: ignore[attr-defined]
        return handler

    return mark


ALL_VERSIONS = VersionRange(MIN_VERSION, MAX_VERSION)


def version_range(handler: Callable[..., Any]) -> VersionRange:
    return getattr(handler, "version_range", ALL_VERSIONS)


def select_handler(
    handlers: tuple[Callable[..., Any], ...], version: Version
) -> Callable[..., Any] | int:
    """The handler serving ``version``, or the status to answer when none
    does (404, or what the lowest handler declares for older versions)."""
    for handler in handlers:
        if version in version_range(handler):
            return handler
    lowest = min((version_range(h) for h in handlers), key=lambda r: r.minimum)
    return lowest.status_below if version < lowest.minimum else 404
