"""berth's builds over HTTP: 202 with a status URI, the build's state and
attempts, paging, agents' assignments and reports, delete and migrations;
microversioned, in the error format. A conductor runs in-process."""

from __future__ import annotations

import pytest

from berth.conductor.conductor import Conductor
from berth.config import SchedulerSettings
from berth.scheduler import Scheduler
from tests.api.client import error_of, new_uuid


@pytest.fixture
def conductor(store) -> Conductor:
    return Conductor(Scheduler(store, SchedulerSettings()))


def _host(api, vcpu: int = 8, cell: str | None = "c1") -> str:
    rp = api.create_provider()
    api.set_inventory(rp["uuid"], VCPU=vcpu, MEMORY_MB=4096)
    if cell is not None:
        assert api.put(f"/resource_providers/{rp['uuid']}/cell", {"cell": cell}).status_code == 200
    return rp["uuid"]


def _spec(**extra) -> dict:
    return {"project_id": "p", "user_id": "u", "resources": {"VCPU": 2}, **extra}


def _submit(api, **body) -> dict:
    response = api.post("/builds", {"request_spec": _spec(), **body})
    assert response.status_code == 202, response.text
    return response.json()


def _report(api, build_id, uuid, attempt, outcome, **extra):
    return api.put(
        f"/builds/{build_id}/instances/{uuid}/attempts/{attempt}", {"outcome": outcome, **extra}
    )


def _usage(api, host: str) -> int:
    return api.get(f"/resource_providers/{host}/usages").json()["usages"].get("VCPU", 0)


def test_a_build_is_accepted_with_its_status_uri(api):
    _host(api)
    response = api.post("/builds", {"request_spec": _spec(), "num_instances": 2, "num_alternates": 1})
    assert response.status_code == 202, response.text
    build = response.json()
    assert response.headers["location"].endswith(f"/builds/{build['id']}")
    assert build["state"] == "SCHEDULING" and build["num_alternates"] == 1
    assert [i["state"] for i in build["instances"]] == ["SCHEDULING", "SCHEDULING"]
    assert all(i["host"] is None and i["attempts"] == [] for i in build["instances"])
    assert build["created_at"].endswith("Z")
    assert api.get(f"/builds/{build['id']}").json() == build


def test_the_conductor_builds_and_the_agent_reports(api, conductor):
    hosts = {_host(api) for _ in range(3)}
    build = _submit(api, num_alternates=2)
    conductor.run_once()
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    assert instance["state"] == "BUILDING" and instance["host"] in hosts and instance["cell"] == "c1"
    assert instance["attempts"][0]["outcome"] == "building" and len(instance["alternates"]) == 2
    assignments = api.get(f"/builds/assignments?host={instance['host']}").json()["assignments"]
    assert assignments == [{
        "build_id": build["id"], "instance_uuid": instance["uuid"], "attempt": 1,
        "allocations": {instance["host"]: {"resources": {"VCPU": 2}}},
    }]
    assert _report(api, build["id"], instance["uuid"], 1, "succeeded").status_code == 204
    # The same report again is answered the same.
    assert _report(api, build["id"], instance["uuid"], 1, "succeeded").status_code == 204
    build = api.get(f"/builds/{build['id']}").json()
    assert build["state"] == "ACTIVE" and build["instances"][0]["attempts"][0]["outcome"] == "succeeded"
    assert api.get(f"/builds/assignments?host={instance['host']}").json()["assignments"] == []


def test_failures_retry_on_alternates_then_error_with_every_attempt(api, conductor):
    hosts = [_host(api) for _ in range(2)]
    build = _submit(api, num_alternates=1)
    conductor.run_once()
    uuid = build["instances"][0]["uuid"]
    response = _report(api, build["id"], uuid, 1, "failed", reason="port binding", failure_kind="network")
    assert response.status_code == 204
    conductor.run_once()
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    assert [a["outcome"] for a in instance["attempts"]] == ["failed", "building"]
    assert _report(api, build["id"], uuid, 2, "failed", reason="disk", failure_kind="hardware").status_code == 204
    conductor.run_once()
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    assert instance["state"] == "ERROR" and instance["host"] is None
    assert [(a["number"], a["outcome"], a["reason"]) for a in instance["attempts"]] == [
        (1, "failed", "port binding"), (2, "failed", "disk"),
    ]
    assert "port binding (network)" in instance["fault"] and "disk (hardware)" in instance["fault"]
    assert sum(_usage(api, h) for h in hosts) == 0


def test_a_report_on_an_attempt_that_is_over_is_a_409(api, conductor):
    _host(api), _host(api)
    build = _submit(api, num_alternates=1)
    conductor.run_once()
    uuid = build["instances"][0]["uuid"]
    _report(api, build["id"], uuid, 1, "failed")
    response = _report(api, build["id"], uuid, 1, "succeeded")
    assert response.status_code == 409
    assert error_of(response)["code"] == "berth.builds.attempt_not_current"
    conductor.run_once()
    assert _report(api, build["id"], uuid, 1, "failed").status_code == 204
    assert _report(api, build["id"], uuid, 3, "failed").status_code == 404
    assert _report(api, build["id"], uuid, "x", "failed").status_code == 404


def test_no_valid_host_is_an_error_with_the_explanation(api, conductor):
    _host(api, vcpu=1)
    build = _submit(api)
    conductor.run_once()
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    assert instance["state"] == "ERROR"
    assert "VCPU:2 (no host)" in instance["fault"]


def test_deleting_an_instance_frees_it(api, conductor):
    host = _host(api)
    build = _submit(api)
    conductor.run_once()
    uuid = build["instances"][0]["uuid"]
    assert _usage(api, host) == 2
    assert api.delete(f"/builds/{build['id']}/instances/{uuid}").status_code == 204
    assert _usage(api, host) == 0
    assert api.delete(f"/builds/{build['id']}/instances/{uuid}").status_code == 204
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    assert instance["state"] == "DELETED"
    assert _report(api, build["id"], uuid, 1, "succeeded").status_code == 409
    conductor.run_once()
    assert api.get(f"/builds/{build['id']}").json()["state"] == "DELETED"
    assert api.delete(f"/builds/{build['id']}/instances/{new_uuid()}").status_code == 404


def test_builds_are_listed_in_pages(api):
    _host(api)
    made = [_submit(api)["id"] for _ in range(3)]
    first = api.get("/builds?limit=2").json()
    assert [b["id"] for b in first["builds"]] == made[:2]
    [link] = first["links"]
    assert link["rel"] == "next"
    second = api.get(link["href"]).json()
    assert [b["id"] for b in second["builds"]] == made[2:] and second["links"] == []
    assert [b["id"] for b in api.get("/builds").json()["builds"]] == made


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "limit=1&limit=2", "marker=2c5b3d1e-0000-4000-8000-00000000beef"])
def test_bad_paging_is_a_400(api, query):
    assert api.get(f"/builds?{query}").status_code == 400


def test_migrate_confirm_and_revert(api, conductor):
    _host(api), _host(api)
    build = _submit(api)
    conductor.run_once()
    uuid = build["instances"][0]["uuid"]
    _report(api, build["id"], uuid, 1, "succeeded")
    source = api.get(f"/builds/{build['id']}").json()["instances"][0]["host"]
    base = f"/builds/{build['id']}/instances/{uuid}"
    response = api.post(f"{base}/migrate")
    assert response.status_code == 202, response.text
    migration = response.json()["instances"][0]["migration"]
    assert migration["state"] == "requested" and migration["source_host"] == source
    assert api.post(f"{base}/migrate").status_code == 409
    conductor.run_once()
    instance = api.get(f"/builds/{build['id']}").json()["instances"][0]
    destination = instance["host"]
    assert instance["migration"]["state"] == "migrated" and destination != source
    assert list(api.get(f"/allocations/{migration['uuid']}").json()["allocations"]) == [source]
    assert list(api.get(f"/allocations/{uuid}").json()["allocations"]) == [destination]
    response = api.post(f"{base}/migration/revert")
    assert response.status_code == 200, response.text
    instance = response.json()["instances"][0]
    assert instance["migration"]["state"] == "reverted" and instance["host"] == source
    assert api.get(f"/allocations/{migration['uuid']}").json()["allocations"] == {}
    assert list(api.get(f"/allocations/{uuid}").json()["allocations"]) == [source]
    # Again, and confirmed this time.
    assert api.post(f"{base}/migrate").status_code == 202
    conductor.run_once()
    response = api.post(f"{base}/migration/confirm")
    assert response.status_code == 200
    instance = response.json()["instances"][0]
    assert instance["migration"]["state"] == "confirmed" and instance["host"] != source
    assert _usage(api, source) == 0 and _usage(api, instance["host"]) == 2
    assert api.post(f"{base}/migration/revert").status_code == 409


@pytest.mark.parametrize("body", [
    {},
    {"request_spec": {"project_id": "p"}},
    {"request_spec": _spec(), "num_instances": 0},
    {"request_spec": _spec(), "num_alternates": -1},
    {"request_spec": _spec(resources={"NOPE": 1})},
    {"request_spec": _spec(instance_uuids=[new_uuid(), new_uuid()]), "num_instances": 1},
    {"request_spec": _spec(), "extra": 1},
])
def test_bad_build_requests_are_400s(api, body):
    _host(api)
    response = api.post("/builds", body)
    assert response.status_code == 400, response.text
    assert api.get("/builds").json()["builds"] == []


def test_an_instance_uuid_that_holds_allocations_is_refused(api):
    host = _host(api)
    taken = new_uuid()
    assert api.allocate(taken, {host: {"VCPU": 1}}).status_code == 204
    response = api.post("/builds", {"request_spec": _spec(instance_uuids=[taken])})
    assert response.status_code == 409
    assert error_of(response)["code"] == "berth.builds.instance_exists"


@pytest.mark.parametrize("body", [{"outcome": "maybe"}, {"outcome": "succeeded", "failure_kind": "network"}, {}])
def test_bad_reports_are_400s(api, conductor, body):
    _host(api)
    build = _submit(api)
    conductor.run_once()
    uuid = build["instances"][0]["uuid"]
    assert api.put(f"/builds/{build['id']}/instances/{uuid}/attempts/1", body).status_code == 400


def test_builds_need_microversion_1_39(api):
    assert api.get("/builds", version="1.38").status_code == 404
    assert api.get(f"/builds/{new_uuid()}").status_code == 404
    assert api.get("/builds/assignments").status_code == 400


def test_builds_are_for_admins_and_services(make_api):
    from tests.api.conftest import PolicySettings

    reader = make_api(policy=PolicySettings(enforce_new_defaults=True))
    response = reader.get("/builds", token="someone:project-x")
    assert response.status_code == 403
