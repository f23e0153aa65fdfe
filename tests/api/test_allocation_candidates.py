"""GET /allocation_candidates (1.10): validation through HTTP and the shape
of the answer at every microversion that changes it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from berth.api.app import create_app
from berth.config import PlacementSettings
from berth.placement.candidates.finder import CandidateFinder
from tests.api.client import TestClient, error_of, new_uuid

AC = "/allocation_candidates"


@dataclasses.dataclass(frozen=True)
class Cloud:
    """A compute node with a NUMA child holding VFs, and a disk pool shared
    with it through an aggregate."""

    cn: str
    numa: str
    ss: str
    agg: str


@pytest.fixture
def cloud(api) -> Cloud:
    agg = new_uuid()
    cn = api.create_provider("cn")["uuid"]
    api.set_inventory(cn, VCPU={"total": 8, "allocation_ratio": 2.0}, MEMORY_MB=2048)
    api.set_traits(cn, "HW_CPU_X86_SSE", "CUSTOM_GOLD")
    api.set_aggregates(cn, agg)
    numa = api.create_provider("numa", parent=cn)["uuid"]
    api.set_inventory(numa, SRIOV_NET_VF=4)
    ss = api.create_provider("ss")["uuid"]
    api.set_inventory(ss, DISK_GB={"total": 100, "reserved": 10})
    api.set_traits(ss, "MISC_SHARES_VIA_AGGREGATE")
    api.set_aggregates(ss, agg)
    assert api.allocate(new_uuid(), {cn: {"VCPU": 3}}).status_code == 204
    return Cloud(cn=cn, numa=numa, ss=ss, agg=agg)


def detail_of(response) -> str:
    assert response.status_code == 400, response.text
    return error_of(response)["detail"]


# -- routing, policy, negotiation ---------------------------------------------


def test_exists_from_1_10(api):
    assert api.get(f"{AC}?resources=VCPU:1", version="1.9").status_code == 404
    response = api.get(f"{AC}?resources=VCPU:1", version="1.10")
    assert response.status_code == 200
    assert response.json() == {"allocation_requests": [], "provider_summaries": {}}
    assert response.headers["vary"] == "openstack-api-version"
    assert api.post(f"{AC}?resources=VCPU:1").status_code == 405


def test_policy_and_accept(api):
    assert api.get(f"{AC}?resources=VCPU:1", token="someone").status_code == 403
    refused = api.get(f"{AC}?resources=VCPU:1", headers={"accept": "text/plain"})
    assert refused.status_code == 406


# -- validation ----------------------------------------------------------------


def test_schema_errors_per_version(api):
    assert "'resources' is a required property" in detail_of(api.get(AC, version="1.10"))
    assert "'limit' was unexpected" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&limit=1", version="1.15")
    )
    assert "Failed validating 'pattern'" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&limit=0", version="1.16")
    )
    assert "'required' was unexpected" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&required=FOO", version="1.16")
    )
    assert "'member_of' was unexpected" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&member_of={new_uuid()}", version="1.20")
    )
    assert "'resources1' was unexpected" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&resources1=VCPU:1", version="1.24")
    )
    assert "'in_tree' does not match any of the regexes" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&in_tree={new_uuid()}", version="1.30")
    )
    assert "'resources_X' does not match any of the regexes" in detail_of(
        api.get(f"{AC}?resources_X=VCPU:1", version="1.32")
    )
    assert "'root_required' does not match" in detail_of(
        api.get(f"{AC}?resources=VCPU:1&root_required=FOO", version="1.34")
    )
    assert "'same_subtree' does not match" in detail_of(
        api.get(f"{AC}?resources1=VCPU:1&same_subtree=1", version="1.35")
    )


def test_error_codes(api):
    response = api.get(f"{AC}?resources1=VCPU:1&required2=HW_NUMA_ROOT&group_policy=none")
    assert "bad group(s) - ['2']" in detail_of(response)
    assert error_of(response)["code"] == "placement.query.bad_value"
    response = api.get(f"{AC}?group_policy=none")
    assert error_of(response)["code"] == "placement.query.missing_value"
    response = api.get(f"{AC}?resources=VCPU:1&root_required=A&root_required=B")
    assert error_of(response)["code"] == "placement.query.duplicate_key"
    response = api.get(f"{AC}?resources1=VCPU:1&resources2=VCPU:1", version="1.25")
    assert "group_policy" in detail_of(response)
    assert error_of(response)["code"] == "placement.undefined_code"
    # Errors carry a code from 1.23 only.
    assert "code" not in error_of(api.get(f"{AC}?resources=", version="1.22"))


def test_unknown_names(api):
    assert detail_of(api.get(f"{AC}?resources=MCPU:99", version="1.10")).endswith(
        "Invalid resource class in resources parameter: No such resource class MCPU.  "
    )
    assert "No such trait(s): CUSTOM_NOPE." in detail_of(
        api.get(f"{AC}?resources=VCPU:1&required=CUSTOM_NOPE", version="1.17")
    )
    assert "No such trait(s): CUSTOM_NOPE." in detail_of(
        api.get(f"{AC}?resources=VCPU:1&required=!CUSTOM_NOPE")
    )
    assert "No such trait(s): CUSTOM_NOPE." in detail_of(
        api.get(f"{AC}?resources=VCPU:1&root_required=HW_CPU_X86_SSE,!CUSTOM_NOPE")
    )
    assert "No such resource class CUSTOM_NOPE." in detail_of(
        api.get(f"{AC}?resources=VCPU:1&resources_X=CUSTOM_NOPE:1&group_policy=none")
    )
    assert "No such trait(s): CUSTOM_NOPE." in detail_of(
        api.get(f"{AC}?resources1=VCPU:1&required2=in:HW_CPU_X86_SSE,CUSTOM_NOPE"
                "&same_subtree=1,2&group_policy=none")
    )


def test_names_nobody_holds_are_looked_up(api, cloud):
    """Names no provider has are not known to the index: the store decides
    whether they exist (200, nothing found) or not (400)."""
    assert api.put("/resource_classes/CUSTOM_UNUSED", version="1.7").status_code == 201
    assert api.put("/traits/CUSTOM_LONELY").status_code == 201
    empty = {"allocation_requests": [], "provider_summaries": {}}
    assert api.get(f"{AC}?resources=CUSTOM_UNUSED:1").json() == empty
    assert api.get(f"{AC}?resources=VCPU:1&required=CUSTOM_LONELY").json() == empty
    assert len(api.get(f"{AC}?resources=VCPU:1&required=!CUSTOM_LONELY").json()["allocation_requests"]) == 1
    assert api.delete("/resource_classes/CUSTOM_UNUSED").status_code == 204
    assert "No such resource class CUSTOM_UNUSED." in detail_of(api.get(f"{AC}?resources=CUSTOM_UNUSED:1"))


# -- the answer, version by version ------------------------------------------------


def test_list_form_before_1_12(api, cloud):
    response = api.get(f"{AC}?resources=VCPU:1,MEMORY_MB:512", version="1.10")
    assert response.status_code == 200
    assert "cache-control" not in response.headers and "last-modified" not in response.headers
    assert response.json() == {
        "allocation_requests": [{"allocations": [
            {"resource_provider": {"uuid": cloud.cn}, "resources": {"VCPU": 1, "MEMORY_MB": 512}}
        ]}],
        "provider_summaries": {cloud.cn: {"resources": {
            "VCPU": {"capacity": 16, "used": 3},
            "MEMORY_MB": {"capacity": 2048, "used": 0},
        }}},
    }


def test_dict_form_from_1_12_and_cache_headers_from_1_15(api, cloud):
    body = api.get(f"{AC}?resources=VCPU:1,DISK_GB:5", version="1.12").json()
    assert body["allocation_requests"] == [{"allocations": {
        cloud.cn: {"resources": {"VCPU": 1}},
        cloud.ss: {"resources": {"DISK_GB": 5}},
    }}]
    assert body["provider_summaries"][cloud.ss] == {
        "resources": {"DISK_GB": {"capacity": 90, "used": 0}}
    }
    response = api.get(f"{AC}?resources=VCPU:1", version="1.15")
    assert response.headers["cache-control"] == "no-cache"
    assert re.fullmatch(r"\w+, \d+ \w+ \d{4} [\d:]+ GMT", response.headers["last-modified"])


def test_limit_from_1_16(api, cloud):
    other = api.create_provider()["uuid"]
    api.set_inventory(other, VCPU=4)
    assert len(api.get(f"{AC}?resources=VCPU:1", version="1.16").json()["allocation_requests"]) == 2
    body = api.get(f"{AC}?resources=VCPU:1&limit=1", version="1.16").json()
    assert len(body["allocation_requests"]) == 1
    assert len(body["provider_summaries"]) == 1


def test_traits_in_summaries_from_1_17(api, cloud):
    before = api.get(f"{AC}?resources=VCPU:1", version="1.16").json()
    assert "traits" not in before["provider_summaries"][cloud.cn]
    body = api.get(f"{AC}?resources=VCPU:1&required=HW_CPU_X86_SSE", version="1.17").json()
    # Standard traits before custom ones, as Placement lists them.
    assert body["provider_summaries"][cloud.cn]["traits"] == ["HW_CPU_X86_SSE", "CUSTOM_GOLD"]
    none = api.get(f"{AC}?resources=VCPU:1&required=HW_CPU_X86_SSE2", version="1.17").json()
    assert none == {"allocation_requests": [], "provider_summaries": {}}


def test_forbidden_traits_from_1_22(api, cloud):
    body = api.get(f"{AC}?resources=VCPU:1&required=!CUSTOM_GOLD", version="1.22").json()
    assert body["allocation_requests"] == []


def test_member_of_from_1_21(api, cloud):
    assert len(api.get(f"{AC}?resources=VCPU:1&member_of={cloud.agg}",
                       version="1.21").json()["allocation_requests"]) == 1
    assert api.get(f"{AC}?resources=VCPU:1&member_of={new_uuid()}",
                   version="1.21").json()["allocation_requests"] == []
    assert api.get(f"{AC}?resources=VCPU:1&member_of=!{cloud.agg}",
                   version="1.32").json()["allocation_requests"] == []


def test_summaries_list_every_class_from_1_27(api, cloud):
    before = api.get(f"{AC}?resources=VCPU:1", version="1.26").json()
    assert set(before["provider_summaries"][cloud.cn]["resources"]) == {"VCPU"}
    after = api.get(f"{AC}?resources=VCPU:1", version="1.27").json()
    assert set(after["provider_summaries"][cloud.cn]["resources"]) == {"VCPU", "MEMORY_MB"}


def test_nested_from_1_29(api, cloud):
    query = f"{AC}?resources=VCPU:1,SRIOV_NET_VF:1"
    assert api.get(query, version="1.28").json()["allocation_requests"] == []
    body = api.get(query, version="1.29").json()
    assert body["allocation_requests"] == [{"allocations": {
        cloud.cn: {"resources": {"VCPU": 1}},
        cloud.numa: {"resources": {"SRIOV_NET_VF": 1}},
    }}]
    assert body["provider_summaries"][cloud.numa] == {
        "resources": {"SRIOV_NET_VF": {"capacity": 4, "used": 0}},
        "traits": [],
        "parent_provider_uuid": cloud.cn,
        "root_provider_uuid": cloud.cn,
    }
    assert body["provider_summaries"][cloud.cn]["parent_provider_uuid"] is None
    old = api.get(f"{AC}?resources=VCPU:1", version="1.28").json()
    assert "root_provider_uuid" not in old["provider_summaries"][cloud.cn]


def test_in_tree_from_1_31(api, cloud):
    other = api.create_provider()["uuid"]
    api.set_inventory(other, VCPU=4)
    body = api.get(f"{AC}?resources=VCPU:1&in_tree={cloud.numa}", version="1.31").json()
    assert [list(ar["allocations"]) for ar in body["allocation_requests"]] == [[cloud.cn]]
    body = api.get(f"{AC}?resources1=VCPU:1&in_tree1={other}", version="1.31").json()
    assert [list(ar["allocations"]) for ar in body["allocation_requests"]] == [[other]]


def test_mappings_from_1_34(api, cloud):
    query = f"{AC}?resources=VCPU:1&resources_NET=SRIOV_NET_VF:1&resources_DISK=DISK_GB:1" \
            "&group_policy=isolate"
    assert "mappings" not in api.get(query, version="1.33").json()["allocation_requests"][0]
    candidate = api.get(query, version="1.34").json()["allocation_requests"][0]
    assert candidate["mappings"] == {"": [cloud.cn], "_NET": [cloud.numa], "_DISK": [cloud.ss]}


def test_root_required_from_1_35(api, cloud):
    assert len(api.get(f"{AC}?resources=SRIOV_NET_VF:1&root_required=CUSTOM_GOLD",
                       version="1.35").json()["allocation_requests"]) == 1
    assert api.get(f"{AC}?resources=SRIOV_NET_VF:1&root_required=!CUSTOM_GOLD",
                   version="1.35").json()["allocation_requests"] == []


def test_resourceless_group_in_same_subtree_from_1_36(api, cloud):
    api.set_traits(cloud.numa, "HW_NUMA_ROOT")
    query = f"{AC}?resources_NET=SRIOV_NET_VF:1&required_NUMA=HW_NUMA_ROOT" \
            "&same_subtree=_NET,_NUMA&group_policy=none"
    candidate, = api.get(query, version="1.36").json()["allocation_requests"]
    assert candidate["allocations"] == {cloud.numa: {"resources": {"SRIOV_NET_VF": 1}}}
    assert candidate["mappings"] == {"_NET": [cloud.numa], "_NUMA": [cloud.numa]}


def test_any_traits_from_1_39(api, cloud):
    query = f"{AC}?resources=VCPU:1&required=in:HW_CPU_X86_SSE2,CUSTOM_GOLD"
    assert "only supported since microversion 1.39" in detail_of(api.get(query, version="1.38"))
    assert len(api.get(query, version="1.39").json()["allocation_requests"]) == 1
    # Before 1.39 the last `required` is the one that counts.
    assert len(api.get(f"{AC}?resources=VCPU:1&required=HW_CPU_X86_SSE2&required=CUSTOM_GOLD",
                       version="1.38").json()["allocation_requests"]) == 1
    assert api.get(f"{AC}?resources=VCPU:1&required=HW_CPU_X86_SSE2&required=CUSTOM_GOLD",
                   version="1.39").json()["allocation_requests"] == []


def test_finder_settings(make_api, cloud):
    capped = make_api(placement=PlacementSettings(max_allocation_candidates=1))
    other = capped.create_provider()["uuid"]
    capped.set_inventory(other, VCPU=4)
    assert len(capped.get(f"{AC}?resources=VCPU:1").json()["allocation_requests"]) == 1


def test_index_filled_at_start_up(settings, store, monkeypatch):
    refreshed = []
    monkeypatch.setattr(CandidateFinder, "refresh", lambda finder: refreshed.append(finder))
    app = create_app(settings, store)
    with TestClient(app):
        assert refreshed == [app.state.services.candidates]
