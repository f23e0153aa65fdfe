"""The version list, negotiation and the handlers' version ranges."""

from __future__ import annotations

import pytest

from berth.api import microversion
from berth.api.routes import ROUTES


def test_versions_are_consecutive_from_1_0_to_1_39():
    assert microversion.VERSIONS == tuple(f"1.{minor}" for minor in range(40))


@pytest.mark.parametrize("header,expected", [
    ({}, "1.0"),
    ({"openstack-api-version": "placement 1.17"}, "1.17"),
    ({"openstack-api-version": "placement latest"}, "1.39"),
    ({"openstack-api-version": "compute 2.1, placement 1.2"}, "1.2"),
])
def test_negotiate(header, expected):
    assert str(microversion.negotiate(header)) == expected


def test_negotiate_refuses_unknown_and_malformed_versions():
    with pytest.raises(microversion.VersionNotAcceptable, match="Unacceptable version header: 1.40"):
        microversion.negotiate({"openstack-api-version": "placement 1.40"})
    with pytest.raises(microversion.MalformedVersion, match="invalid version string: 1.2.3"):
        microversion.negotiate({"openstack-api-version": "placement 1.2.3"})


def _route_methods():
    for path, methods in ROUTES.items():
        for method, handlers in methods.items():
            yield pytest.param(handlers, id=f"{method} {path}")


@pytest.mark.parametrize("handlers", list(_route_methods()))
def test_handler_ranges_tile_the_versions_without_overlap_or_gap(handlers):
    ranges = sorted((microversion.version_range(h) for h in handlers), key=lambda r: r.minimum)
    assert ranges[-1].maximum == microversion.MAX_VERSION
    for lower, upper in zip(ranges, ranges[1:]):
        assert lower.maximum < upper.minimum, "overlapping version ranges"
        following = microversion.VERSIONS.index(str(lower.maximum)) + 1
        assert str(upper.minimum) == microversion.VERSIONS[following], "gap between ranges"


def test_below_the_minimum_is_404_unless_declared_otherwise():
    @microversion.versioned("1.5")
    def newer(req):
        return None

    @microversion.versioned("1.5", status_below=405)
    def newer_405(req):
        return None

    v = microversion.parse
    assert microversion.select_handler((newer,), v("1.4")) == 404
    assert microversion.select_handler((newer_405,), v("1.4")) == 405
    assert microversion.select_handler((newer,), v("1.5")) is newer


def test_versioned_alternatives_are_chosen_by_version():
    put = ROUTES["/allocations/{consumer_uuid}"]["PUT"]
    chosen = {
        version: microversion.select_handler(put, microversion.parse(version)).__name__
        for version in ("1.0", "1.7", "1.8", "1.12", "1.28", "1.34", "1.38", "1.39")
    }
    assert chosen == {
        "1.0": "set_allocations_v1_0", "1.7": "set_allocations_v1_0",
        "1.8": "set_allocations_v1_8", "1.12": "set_allocations_v1_12",
        "1.28": "set_allocations_v1_28", "1.34": "set_allocations_v1_34",
        "1.38": "set_allocations_v1_38", "1.39": "set_allocations_v1_38",
    }
