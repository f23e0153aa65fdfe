"""Query strings into berth.placement.query objects, per microversion."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from berth.api import query
from berth.api.errors import ApiError
from berth.api.microversion import parse
from berth.api.request import ApiRequest
from berth.placement.query import AggregateRequirement, TraitRequirement

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"


def request(query_string: str, version: str = "1.39") -> ApiRequest:
    return ApiRequest(
        version=parse(version), method="GET", path_params={},
        query=QueryParams(query_string), headers=None, body=b"",  # type: ignore[arg-type]
        credentials=None, store=None, settings=None, enforcer=None,  # type: ignore[arg-type]
    )


def test_resources():
    assert query.parse_resources("VCPU:2,MEMORY_MB:1024") == {"VCPU": 2, "MEMORY_MB": 1024}
    for bad, message in (
        ("", "Got: empty string."),
        ("VCPU", "Got: VCPU."),
        ("VCPU:x", "expected positive integer amount. Got: x."),
        ("VCPU:0", "requires amount >= 1. Got: 0."),
    ):
        with pytest.raises(ApiError, match=message):
            query.parse_resources(bad)


def test_member_of_forms():
    wanted = query.parse_member_of(request(f"member_of={A}&member_of=in:{A},{B}&member_of=!{B}"))
    assert wanted == AggregateRequirement(
        any_of=(frozenset([A]), frozenset([A, B])), forbidden=frozenset([B])
    )
    assert query.parse_member_of(request(f"member_of=!in:{A},{B}")).forbidden == {A, B}


@pytest.mark.parametrize("query_string,version,message", [
    (f"member_of={A}&member_of={B}", "1.23", "Multiple member_of parameters are not supported"),
    (f"member_of=!{A}", "1.31", "Forbidden member_of parameters are not supported"),
    (f"member_of={A},{B}", "1.39", "must be prefixed with the 'in:' or '!in:'"),
    ("member_of=in:", "1.39", "Expected 'member_of' parameter to contain valid UUID"),
])
def test_member_of_errors(query_string, version, message):
    with pytest.raises(ApiError, match=message):
        query.parse_member_of(request(query_string, version))


def test_required_forms():
    assert query.parse_required(request("required=A,!B&required=in:C,D")) == TraitRequirement(
        any_of=(frozenset("A"), frozenset("CD")), forbidden=frozenset("B")
    )
    # Before 1.39 only the last value counts.
    assert query.parse_required(request("required=A&required=B", "1.38")).any_of == (frozenset("B"),)
    # Placement strips every leading '!'.
    assert query.parse_required(request("required=!!A")).forbidden == {"A"}


@pytest.mark.parametrize("value,version,message", [
    ("!A", "1.21", "Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: !A"),
    ("A,,B", "1.22", "HW_CPU_X86_VMX,!CUSTOM_MAGIC. Got an empty trait in: A,,B"),
    ("in:A,B", "1.38", "only supported since microversion 1.39"),
    ("in:A,!B", "1.39", "does not support forbidden traits"),
    ("in:A,", "1.39", "Got an empty trait in: in:A,"),
])
def test_required_errors(value, version, message):
    with pytest.raises(ApiError, match=message):
        query.parse_required(request(f"required={value}", version))


def test_provider_query_schema_follows_version():
    with pytest.raises(ApiError, match="Additional properties are not allowed"):
        query.provider_query(request(f"in_tree={A}", "1.13"))
    assert query.provider_query(request(f"in_tree={A}&name=x", "1.14")).in_tree == A


def test_trait_filter():
    assert query.trait_filter(QueryParams("name=in:A,B")).names == ("A", "B")
    assert query.trait_filter(QueryParams("name=startswith:CUSTOM_")).prefix == "CUSTOM_"
    assert query.trait_filter(QueryParams("associated=TRUE")).associated is True
    with pytest.raises(ApiError, match="Badly formatted name parameter"):
        query.trait_filter(QueryParams("name=A"))


def test_usage_filter():
    wanted = query.usage_filter(request("project_id=p&user_id=u&consumer_type=all", "1.38"))
    assert (wanted.project_id, wanted.user_id, wanted.consumer_type) == ("p", "u", "all")
    with pytest.raises(ApiError):
        query.usage_filter(request("project_id=p&consumer_type=all", "1.37"))
