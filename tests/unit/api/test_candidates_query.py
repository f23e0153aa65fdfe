"""The GET /allocation_candidates query string into a CandidateRequest, at
every microversion boundary, with Placement's messages and codes."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from berth.api import candidates_query, errors
from berth.api.errors import ApiError
from berth.api.microversion import parse
from berth.api.request import ApiRequest
from berth.placement.candidates.request import CandidateRequest, GroupPolicy, RequestGroup
from berth.placement.query import AggregateRequirement, TraitRequirement

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
RP = "33333333-3333-3333-3333-333333333333"


def request(query_string: str, version: str = "1.39") -> ApiRequest:
    return ApiRequest(
        version=parse(version), method="GET", path_params={},
        query=QueryParams(query_string), headers=None, body=b"",  # type: ignore[arg-type]
        credentials=None, store=None, settings=None, enforcer=None,  # type: ignore[arg-type]
    )


def parsed(query_string: str, version: str = "1.39") -> CandidateRequest:
    return candidates_query.candidate_request(request(query_string, version))


def error(query_string: str, version: str = "1.39") -> ApiError:
    with pytest.raises(ApiError) as caught:
        parsed(query_string, version)
    assert caught.value.status == 400
    return caught.value


def traits(*required: str, forbidden: tuple[str, ...] = ()) -> TraitRequirement:
    return TraitRequirement(
        any_of=tuple(frozenset(t.split("|")) for t in required), forbidden=frozenset(forbidden)
    )


# -- the unsuffixed group, 1.10 to 1.24 ------------------------------------------


def test_resources_only_at_1_10():
    got = parsed("resources=VCPU:1,MEMORY_MB:1024", "1.10")
    assert got == CandidateRequest(
        groups=(RequestGroup(resources={"VCPU": 1, "MEMORY_MB": 1024}),),
        nested_aware=False,
    )


@pytest.mark.parametrize("query_string,version,message", [
    ("", "1.10", "'resources' is a required property"),
    ("resources=", "1.10", "Badly formed resources parameter. Expected resources query string "
     "parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string."),
    ("resources=VCPU", "1.10", "Got: VCPU."),
    ("resources=VCPU:0", "1.10", "Requested resource VCPU requires amount >= 1. Got: 0."),
    ("resources=VCPU:1&limit=5", "1.15", "'limit' was unexpected"),
    ("resources=VCPU:1&required=HW_CPU_X86_SSE", "1.16", "'required' was unexpected"),
    (f"resources=VCPU:1&member_of={A}", "1.20", "'member_of' was unexpected"),
    ("resources=VCPU:1&resources1=VCPU:1", "1.24", "'resources1' was unexpected"),
    ("resources=VCPU:1&group_policy=none", "1.24", "'group_policy' was unexpected"),
    ("resources=VCPU:1&bogus=1", "1.39", "'bogus' does not match any of the regexes"),
])
def test_schema_per_version(query_string, version, message):
    assert message in error(query_string, version).detail


@pytest.mark.parametrize("value", ["cow", "-99", "0", "01"])
def test_limit_must_be_a_positive_integer(value):
    detail = error(f"resources=VCPU:1&limit={value}", "1.16").detail
    assert detail.startswith("Invalid query string parameters")
    assert "Failed validating 'pattern'" in detail


def test_limit_first_value_counts():
    assert parsed("resources=VCPU:1&limit=10&limit=1", "1.16").limit == 10
    # Placement's schema sees only the last value; the first is checked too.
    assert "Failed validating 'pattern'" in error("resources=VCPU:1&limit=x&limit=1").detail


def test_required_traits_from_1_17():
    got = parsed("resources=VCPU:1&required=HW_CPU_X86_SSE,HW_CPU_X86_SSE2", "1.17")
    assert got.groups[0].traits == traits("HW_CPU_X86_SSE", "HW_CPU_X86_SSE2")


@pytest.mark.parametrize("value,version,form", [
    ("", "1.17", "HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: "),
    (",,", "1.17", "HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: ,,"),
    ("", "1.22", "HW_CPU_X86_VMX,!CUSTOM_MAGIC. Got an empty trait in: "),
    ("!CUSTOM_MAGIC", "1.21", "HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: !CUSTOM_MAGIC"),
])
def test_required_format_errors(value, version, form):
    detail = error(f"resources=VCPU:1&required={value}", version).detail
    assert detail == (
        "Invalid query string parameters: Expected 'required' parameter value "
        f"of the form: {form}"
    )


def test_forbidden_traits_from_1_22():
    got = parsed("resources=VCPU:1&required=HW_CPU_X86_SSE,!CUSTOM_MAGIC", "1.22")
    assert got.groups[0].traits == traits("HW_CPU_X86_SSE", forbidden=("CUSTOM_MAGIC",))


def test_required_and_forbidden_conflict_from_1_22():
    detail = error("resources=VCPU:1&required=FOO,!FOO", "1.22").detail
    assert detail == (
        "Conflicting required and forbidden traits found in the following "
        "traits keys: required: (FOO)"
    )
    # 1.39: an any-of set conflicts only when every member is forbidden.
    assert error("resources=VCPU:1&required=in:A,B&required=!A,!B").detail.endswith(
        "required: (A, B)"
    )
    assert parsed("resources=VCPU:1&required=in:A,B&required=!A").groups[0].traits == traits(
        "A|B", forbidden=("A",)
    )


def test_repeated_required_before_and_from_1_39():
    # Before 1.39 the last one counts (and only it is checked).
    assert parsed("resources=VCPU:1&required=,&required=B", "1.38").groups[0].traits == traits("B")
    got = parsed("resources=VCPU:1&required=A&required=in:B,C&required=!D")
    assert got.groups[0].traits == traits("A", "B|C", forbidden=("D",))


def test_any_traits_only_from_1_39():
    detail = error("resources=VCPU:1&required=in:A,B", "1.38").detail
    assert "The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only supported since microversion " \
        "1.39. Got: in:A,B" in detail
    detail = error("resourcesX=VCPU:1&requiredX=in:A,B", "1.38").detail
    assert "only supported since microversion 1.39" in detail
    assert "does not support forbidden traits" in error("resources=VCPU:1&required=in:A,!B").detail


def test_member_of_from_1_21():
    got = parsed(f"resources=VCPU:1&member_of=in:{A},{B}", "1.21")
    assert got.groups[0].aggregates == AggregateRequirement(any_of=(frozenset([A, B]),))


@pytest.mark.parametrize("query_string,version,message", [
    ("member_of=INVALID_UUID", "1.21",
     "Invalid query string parameters: Expected 'member_of' parameter to contain valid "
     "UUID(s). Got: INVALID_UUID"),
    (f"member_of={A},{B}", "1.24",
     "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword"),
    ("member_of=in:", "1.24", "Expected 'member_of' parameter to contain valid UUID(s)."),
    (f"member_of={A}&member_of={B}", "1.23", "Multiple member_of parameters are not supported"),
    (f"member_of=!{A}", "1.31",
     "Forbidden member_of parameters are not supported in the specified microversion"),
    (f"member_of=!in:{A}", "1.31", "Forbidden member_of parameters are not supported"),
    (f"member_of=in:{A},!{B}", "1.32", "Expected 'member_of' parameter to contain valid UUID(s)."),
])
def test_member_of_errors(query_string, version, message):
    assert message in error(f"resources=VCPU:1&{query_string}", version).detail


def test_member_of_repeats_and_forbidden():
    got = parsed(f"resources=VCPU:1&member_of={A}&member_of=in:{A},{B}", "1.24")
    assert got.groups[0].aggregates.any_of == (frozenset([A]), frozenset([A, B]))
    got = parsed(f"resources=VCPU:1&member_of=!{A}&member_of=!in:{B}", "1.32")
    assert got.groups[0].aggregates == AggregateRequirement(forbidden=frozenset([A, B]))


# -- granular groups, 1.25 on ----------------------------------------------------


def test_numbered_groups_at_1_25():
    got = parsed(
        "resources=DISK_GB:10&resources1=VCPU:1&required1=HW_CPU_X86_AVX"
        f"&resources2=VCPU:1&member_of2={A}&group_policy=isolate", "1.25"
    )
    assert got.groups == (
        RequestGroup(resources={"DISK_GB": 10}),
        RequestGroup(suffix="1", resources={"VCPU": 1}, traits=traits("HW_CPU_X86_AVX")),
        RequestGroup(suffix="2", resources={"VCPU": 1},
                     aggregates=AggregateRequirement(any_of=(frozenset([A]),))),
    )
    assert got.group_policy is GroupPolicy.ISOLATE
    assert got.groups[1].single_provider and not got.groups[0].single_provider


def test_group_policy_values():
    assert parsed("resources=VCPU:1").group_policy is GroupPolicy.NONE
    assert parsed("resources1=VCPU:1&group_policy=none").group_policy is GroupPolicy.NONE
    assert "'bogus' is not one of ['none', 'isolate']" in error(
        "resources=VCPU:1&group_policy=bogus", "1.25"
    ).detail


def test_group_policy_required_with_two_suffixed_groups():
    err = error("resources1=VCPU:1&resources2=VCPU:1", "1.25")
    assert err.detail == (
        'The "group_policy" parameter is required when specifying more than one '
        '"resources{N}" parameter.'
    )
    assert err.code is None
    # One suffixed group plus the unsuffixed one need no policy.
    assert len(parsed("resources=VCPU:1&resources1=VCPU:1", "1.25").groups) == 2


@pytest.mark.parametrize("key,version", [
    ("resources01", "1.25"), ("resources_X", "1.32"), ("resources1@", "1.33"),
    ("resources_" + "0" * 64, "1.33"),
])
def test_bad_suffixes(key, version):
    detail = error(f"{key}=VCPU:1", version).detail
    assert f"'{key}' does not match any of the regexes" in detail


def test_string_suffixes_from_1_33():
    got = parsed("resources_COMPUTE=VCPU:1&resources-NET=SRIOV_NET_VF:1&group_policy=none", "1.33")
    assert [group.suffix for group in got.groups] == ["_COMPUTE", "-NET"]


@pytest.mark.parametrize("query_string,message", [
    ("required=FOO&required1=BAR",
     "All traits parameters must be associated with resources.  Found the following "
     "orphaned traits keys: required, required1"),
    (f"member_of={A}&member_of3={B}",
     "All member_of parameters must be associated with resources. Found the following "
     "orphaned member_of keys: member_of, member_of3"),
    ("resources=VCPU:1&required1=!FOO", "All request groups must specify resources."),
    ("group_policy=isolate",
     "At least one request group (`resources` or `resources{$S}`) is required."),
])
def test_orphans_before_1_36(query_string, message):
    assert error(query_string, "1.35").detail == message


def test_in_tree_from_1_31():
    assert "'in_tree' does not match any of the regexes" in error(
        f"resources=VCPU:1&in_tree={RP}", "1.30"
    ).detail
    got = parsed(f"resources=VCPU:1&in_tree={RP}&resources1=DISK_GB:1&in_tree1={A}", "1.31")
    assert [group.in_tree for group in got.groups] == [RP, A]
    assert error("resources=VCPU:1&in_tree=life-is-beautiful", "1.31").detail == (
        "Invalid query string parameters: Expected 'in_tree' parameter to be a format "
        "of uuid. Got: life-is-beautiful"
    )
    assert error(f"resources=VCPU:1&in_tree1={RP}", "1.31").detail == (
        "All request groups must specify resources."
    )


def test_nested_aware_from_1_29():
    assert not parsed("resources=VCPU:1", "1.28").nested_aware
    assert parsed("resources=VCPU:1", "1.29").nested_aware


# -- root_required (1.35) --------------------------------------------------------


def test_root_required():
    got = parsed("resources=VCPU:1&root_required=HW_CPU_X86_AVX2,!CUSTOM_FOO", "1.35")
    assert got.root_traits == traits("HW_CPU_X86_AVX2", forbidden=("CUSTOM_FOO",))
    assert "'root_required' does not match any of the regexes" in error(
        "resources=VCPU:1&root_required=HW_CPU_X86_AVX2", "1.34"
    ).detail


def test_root_required_errors():
    err = error("resources=VCPU:1&root_required=A,B,!A")
    assert err.detail == "Conflicting required and forbidden traits found in root_required: A"
    assert err.code == errors.QUERYPARAM_BAD_VALUE
    err = error("resources=VCPU:1&root_required=A&root_required=!B")
    assert err.detail == "Query parameter 'root_required' may be specified only once."
    assert err.code == errors.ILLEGAL_DUPLICATE_QUERYPARAM
    # No any-of form for root_required, even at 1.39.
    assert "only supported since microversion 1.39" in error(
        "resources=VCPU:1&root_required=in:A,B"
    ).detail


# -- same_subtree and resourceless groups (1.36) ---------------------------------


def test_same_subtree_with_resourceless_group():
    got = parsed(
        "resources_COMPUTE=VCPU:1&required_NUMA=HW_NUMA_ROOT&resources_ACCEL=FPGA:1"
        "&same_subtree=_NUMA,_COMPUTE,_ACCEL&group_policy=none", "1.36"
    )
    assert got.same_subtrees == (frozenset({"_NUMA", "_COMPUTE", "_ACCEL"}),)
    assert got.groups[1] == RequestGroup(suffix="_NUMA", traits=traits("HW_NUMA_ROOT"))
    assert "'same_subtree' does not match any of the regexes" in error(
        "resources1=VCPU:1&same_subtree=1", "1.35"
    ).detail


@pytest.mark.parametrize("query_string,message,code", [
    ("resources1=VCPU:1&required2=FOO&group_policy=none",
     "Resourceless suffixed group request should be specified in `same_subtree` query "
     "param: bad group(s) - ['2'].", errors.QUERYPARAM_BAD_VALUE),
    (f"resources1=VCPU:1&member_of2={A}&group_policy=none",
     "Resourceless suffixed group request should be specified in `same_subtree` query "
     "param: bad group(s) - ['2'].", errors.QUERYPARAM_BAD_VALUE),
    (f"member_of1={A}&group_policy=none",
     "There must be at least one resources or resources[$S] parameter.",
     errors.QUERYPARAM_MISSING_VALUE),
    ("group_policy=none",
     "There must be at least one resources or resources[$S] parameter.",
     errors.QUERYPARAM_MISSING_VALUE),
    ("resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=COMPUTE,_ACCEL"
     "&group_policy=none",
     "Real suffixes should be specified in `same_subtree`: ['COMPUTE'] not found in "
     "['_COMPUTE', '_ACCEL'].", errors.QUERYPARAM_BAD_VALUE),
    ("resources_COMPUTE=VCPU:1&resources_ACCEL=FPGA:1&same_subtree=_COMPUTE,,_ACCEL"
     "&group_policy=none",
     "Empty string (unsuffixed group) can not be specified in `same_subtree` ",
     errors.QUERYPARAM_BAD_VALUE),
    ("required=FOO&resources1=VCPU:1&same_subtree=1",
     "Resourceless suffixed group request should be specified in `same_subtree` query "
     "param: bad group(s) - [''].", errors.QUERYPARAM_BAD_VALUE),
])
def test_same_subtree_errors(query_string, message, code):
    err = error(query_string, "1.36")
    assert (err.detail, err.code) == (message, code)


def test_group_policy_counts_resourceless_groups():
    assert "group_policy" in error(
        "resources1=VCPU:1&required2=FOO&same_subtree=1,2", "1.36"
    ).detail


def test_errors_come_in_placement_order():
    # Request-wide parameters are read before any group.
    assert "root_required" in error("resources=&root_required=A&root_required=B").detail
    # Group keys are read in query-string order.
    assert "Badly formed resources" in error("resources=&member_of=bad").detail
    assert "member_of" in error("member_of=bad&resources=").detail
