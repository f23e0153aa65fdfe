"""/allocations/{consumer}, POST /allocations and provider allocations: every
body form and its microversion boundary."""

from __future__ import annotations

import pytest

from berth.config import PlacementSettings, Settings
from tests.api.client import consumer_body, error_of, list_form_body, new_uuid


@pytest.fixture
def rp(api) -> str:
    uuid = api.create_provider()["uuid"]
    api.set_inventory(uuid, VCPU=8, MEMORY_MB=1024)
    return uuid


def test_list_form_before_1_8_uses_the_incomplete_consumer(make_api, rp):
    settings = Settings(placement=PlacementSettings(
        incomplete_consumer_project_id="incomplete-p", incomplete_consumer_user_id="incomplete-u"))
    api = make_api(settings)
    consumer = new_uuid()
    assert api.put(f"/allocations/{consumer}", list_form_body({rp: {"VCPU": 1}}), version="1.7").status_code == 204
    body = api.get(f"/allocations/{consumer}", version="1.12").json()
    assert (body["project_id"], body["user_id"]) == ("incomplete-p", "incomplete-u")


def test_project_and_user_required_from_1_8(api, rp):
    consumer = new_uuid()
    missing = api.put(f"/allocations/{consumer}", list_form_body({rp: {"VCPU": 1}}), version="1.8")
    assert missing.status_code == 400
    assert "'project_id' is a required property" in error_of(missing)["detail"]
    body = list_form_body({rp: {"VCPU": 1}}, project_id="p", user_id="u")
    assert api.put(f"/allocations/{consumer}", body, version="1.8").status_code == 204


def test_dict_form_from_1_12(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 2}})
    assert api.put(f"/allocations/{consumer}", body, version="1.11").status_code == 400
    assert api.put(f"/allocations/{consumer}", body, version="1.12").status_code == 204


def test_get_shape_per_version(api, rp):
    consumer = new_uuid()
    assert api.allocate(consumer, {rp: {"VCPU": 2}}, project="p", user="u").status_code == 204
    path = f"/allocations/{consumer}"
    generation = api.generation(rp)
    assert api.get(path, version="1.11").json() == {
        "allocations": {rp: {"generation": generation, "resources": {"VCPU": 2}}}
    }
    assert set(api.get(path, version="1.12").json()) == {"allocations", "project_id", "user_id"}
    assert api.get(path, version="1.28").json()["consumer_generation"] == 1
    assert api.get(path, version="1.38").json()["consumer_type"] == "INSTANCE"


def test_unknown_consumer_has_no_allocations(api):
    assert api.get(f"/allocations/{new_uuid()}").json() == {"allocations": {}}


def test_consumer_generation_from_1_28(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}})
    assert api.put(f"/allocations/{consumer}", body, version="1.28").status_code == 400
    wrong = api.put(f"/allocations/{consumer}", {**body, "consumer_generation": 3}, version="1.28")
    assert wrong.status_code == 409
    assert "consumer generation conflict - expected null but got 3" in error_of(wrong)["detail"]
    assert error_of(wrong)["code"] == "placement.concurrent_update"
    assert api.put(f"/allocations/{consumer}", {**body, "consumer_generation": None},
                   version="1.28").status_code == 204
    stale = api.put(f"/allocations/{consumer}", {**body, "consumer_generation": None}, version="1.28")
    assert "expected 1 but got None" in error_of(stale)["detail"]


def test_empty_allocations_clear_from_1_28(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    body = consumer_body({}, generation=1)
    assert api.put(f"/allocations/{consumer}", body, version="1.28").status_code == 204
    assert api.get(f"/allocations/{consumer}").json() == {"allocations": {}}
    empty_early = consumer_body({})
    assert api.put(f"/allocations/{consumer}", empty_early, version="1.27").status_code == 400


def test_mappings_accepted_from_1_34(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}}, generation=None, mappings={"": [rp]})
    assert api.put(f"/allocations/{consumer}", body, version="1.33").status_code == 400
    assert api.put(f"/allocations/{consumer}", body, version="1.34").status_code == 204


def test_consumer_type_required_from_1_38(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}}, generation=None)
    assert api.put(f"/allocations/{consumer}", body, version="1.38").status_code == 400
    typed = {**body, "consumer_type": "MIGRATION"}
    assert api.put(f"/allocations/{consumer}", typed, version="1.38").status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["consumer_type"] == "MIGRATION"


def test_capacity_and_unknown_things(api, rp):
    over = api.allocate(new_uuid(), {rp: {"VCPU": 9}})
    assert over.status_code == 409
    assert "Unable to allocate inventory" in error_of(over)["detail"]
    no_inventory = api.allocate(new_uuid(), {rp: {"DISK_GB": 1}})
    assert no_inventory.status_code == 409
    missing_rp = new_uuid()
    unknown = api.allocate(new_uuid(), {missing_rp: {"VCPU": 1}})
    assert unknown.status_code == 400
    expected = f"Allocation for resource provider '{missing_rp}' that does not exist."
    assert expected in error_of(unknown)["detail"]
    bad_consumer = api.put("/allocations/not-a-uuid", consumer_body({rp: {"VCPU": 1}}))
    assert "Malformed consumer_uuid: not-a-uuid" in error_of(bad_consumer)["detail"]


def test_empty_resources_are_refused(api, rp):
    response = api.put(f"/allocations/{new_uuid()}", list_form_body({rp: {}}), version="1.0")
    assert response.status_code == 400


def test_post_allocations_from_1_13(api, rp):
    first, second = new_uuid(), new_uuid()
    body = {
        consumer: consumer_body({rp: {"VCPU": 1}}, generation=None, consumer_type="INSTANCE")
        for consumer in (first, second)
    }
    assert api.post("/allocations", body, version="1.12").status_code == 404
    assert api.post("/allocations", body).status_code == 204
    usages = api.get(f"/resource_providers/{rp}/usages").json()["usages"]
    assert usages["VCPU"] == 2
    # All or nothing: one consumer over capacity writes nothing.
    too_much = {
        first: consumer_body({rp: {"VCPU": 2}}, generation=1, consumer_type="INSTANCE"),
        new_uuid(): consumer_body({rp: {"VCPU": 7}}, generation=None, consumer_type="INSTANCE"),
    }
    assert api.post("/allocations", too_much).status_code == 409
    assert api.get(f"/resource_providers/{rp}/usages").json()["usages"]["VCPU"] == 2


def test_delete(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    again = api.delete(f"/allocations/{consumer}")
    assert again.status_code == 404
    assert f"No allocations for consumer '{consumer}'" in error_of(again)["detail"]


def test_provider_allocations(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 2, "MEMORY_MB": 256}})
    body = api.get(f"/resource_providers/{rp}/allocations", version="1.27").json()
    assert body == {
        "allocations": {consumer: {"resources": {"VCPU": 2, "MEMORY_MB": 256}}},
        "resource_provider_generation": api.generation(rp),
    }
    latest = api.get(f"/resource_providers/{rp}/allocations").json()
    assert "consumer_generation" in latest["allocations"][consumer]
    assert api.get(f"/resource_providers/{new_uuid()}/allocations").status_code == 404


def test_user_id_required_from_1_8_too(api, rp):
    body = list_form_body({rp: {"VCPU": 1}}, project_id="p")
    response = api.put(f"/allocations/{new_uuid()}", body, version="1.8")
    assert response.status_code == 400
    assert "'user_id' is a required property" in error_of(response)["detail"]
    owner_at_1_7 = api.put(f"/allocations/{new_uuid()}", {**body, "user_id": "u"}, version="1.7")
    assert owner_at_1_7.status_code == 400
    assert "Additional properties are not allowed" in error_of(owner_at_1_7)["detail"]


def test_list_form_is_refused_from_1_12(api, rp):
    body = list_form_body({rp: {"VCPU": 1}}, project_id="p", user_id="u")
    assert api.put(f"/allocations/{new_uuid()}", body, version="1.11").status_code == 204
    assert api.put(f"/allocations/{new_uuid()}", body, version="1.12").status_code == 400


def test_before_1_28_generations_are_neither_given_nor_shown(api, rp):
    consumer = new_uuid()
    assert api.put(f"/allocations/{consumer}", consumer_body({rp: {"VCPU": 1}}), version="1.27").status_code == 204
    # An existing consumer is replaced without naming its generation.
    assert api.put(f"/allocations/{consumer}", consumer_body({rp: {"VCPU": 2}}), version="1.27").status_code == 204
    named = api.put(f"/allocations/{consumer}", consumer_body({rp: {"VCPU": 2}}, generation=2),
                    version="1.27")
    assert named.status_code == 400
    assert "'consumer_generation' was unexpected" in error_of(named)["detail"]
    assert "consumer_generation" not in api.get(f"/allocations/{consumer}", version="1.27").json()
    assert api.get(f"/allocations/{consumer}", version="1.28").json()["consumer_generation"] == 2
    by_provider = api.get(f"/resource_providers/{rp}/allocations", version="1.27").json()
    assert by_provider["allocations"][consumer] == {"resources": {"VCPU": 2}}


def test_post_allocations_names_generations_from_1_28(api, rp):
    consumer = new_uuid()
    assert api.post("/allocations", {consumer: consumer_body({rp: {"VCPU": 1}})}, version="1.27").status_code == 204
    unnamed = api.post("/allocations", {consumer: consumer_body({rp: {"VCPU": 2}})}, version="1.28")
    assert unnamed.status_code == 400
    assert "'consumer_generation' is a required property" in error_of(unnamed)["detail"]
    stale = api.post("/allocations", {consumer: consumer_body({rp: {"VCPU": 2}}, generation=None)},
                     version="1.28")
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "placement.concurrent_update"
    fresh = api.post("/allocations", {consumer: consumer_body({rp: {"VCPU": 2}}, generation=1)},
                     version="1.28")
    assert fresh.status_code == 204


def test_post_allocations_may_clear_a_consumer(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    cleared = {consumer: consumer_body({})}
    assert api.post("/allocations", cleared, version="1.13").status_code == 204
    assert api.get(f"/allocations/{consumer}").json() == {"allocations": {}}


def test_post_allocations_takes_mappings_from_1_34(api, rp):
    entry = consumer_body({rp: {"VCPU": 1}}, generation=None, mappings={"_COMPUTE": [rp]})
    old = api.post("/allocations", {new_uuid(): entry}, version="1.33")
    assert old.status_code == 400
    assert "Additional properties are not allowed" in error_of(old)["detail"]
    assert api.post("/allocations", {new_uuid(): entry}, version="1.34").status_code == 204


@pytest.mark.parametrize("mappings,message", [
    ({"alpha": "beta"}, "JSON does not validate: 'beta' is not of type 'array'"),
    ({}, "JSON does not validate: {} should be non-empty"),
    ({"_A": []}, "JSON does not validate: [] should be non-empty"),
    ({"_A": ["not-a-uuid"]}, "is not a 'uuid'"),
])
def test_bad_mappings_are_400(api, rp, mappings, message):
    body = consumer_body({rp: {"VCPU": 1}}, generation=None, mappings=mappings)
    response = api.put(f"/allocations/{new_uuid()}", body, version="1.34")
    assert response.status_code == 400
    assert message in error_of(response)["detail"]


def test_mappings_are_accepted_not_stored(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}}, generation=None, mappings={"": [rp]})
    assert api.put(f"/allocations/{consumer}", body, version="1.34").status_code == 204
    assert "mappings" not in api.get(f"/allocations/{consumer}").json()


def test_post_allocations_types_consumers_from_1_38(api, rp):
    consumer = new_uuid()
    entry = consumer_body({rp: {"VCPU": 1}}, generation=None)
    typed = {**entry, "consumer_type": "MIGRATION"}
    early = api.post("/allocations", {consumer: typed}, version="1.37")
    assert "'consumer_type' was unexpected" in error_of(early)["detail"]
    untyped = api.post("/allocations", {consumer: entry}, version="1.38")
    assert "'consumer_type' is a required property" in error_of(untyped)["detail"]
    assert api.post("/allocations", {consumer: typed}, version="1.38").status_code == 204
    assert api.get(f"/allocations/{consumer}", version="1.38").json()["consumer_type"] == "MIGRATION"
    assert "consumer_type" not in api.get(f"/allocations/{consumer}", version="1.37").json()


def test_allocations_written_before_1_38_have_the_unknown_type(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}}, generation=None)
    assert api.put(f"/allocations/{consumer}", body, version="1.37").status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["consumer_type"] == "unknown"


def test_a_replacement_may_change_owner_and_type(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}}, project="p1", user="u1")
    moved = consumer_body({rp: {"VCPU": 1}}, project="p2", user="u2",
                          generation=1, consumer_type="MIGRATION")
    assert api.put(f"/allocations/{consumer}", moved).status_code == 204
    body = api.get(f"/allocations/{consumer}").json()
    assert (body["project_id"], body["user_id"], body["consumer_type"], body["consumer_generation"]) == (
        "p2", "u2", "MIGRATION", 2,
    )


def test_a_cleared_consumer_starts_again_from_null(api, rp):
    consumer = new_uuid()
    api.allocate(consumer, {rp: {"VCPU": 1}})
    assert api.delete(f"/allocations/{consumer}").status_code == 204
    again = consumer_body({rp: {"VCPU": 1}}, generation=None, consumer_type="INSTANCE")
    assert api.put(f"/allocations/{consumer}", again).status_code == 204


def test_dashless_consumer_uuid_is_normalised(api, rp):
    consumer = new_uuid()
    body = consumer_body({rp: {"VCPU": 1}}, generation=None, consumer_type="INSTANCE")
    assert api.put(f"/allocations/{consumer.replace('-', '')}", body).status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["allocations"][rp]["resources"] == {"VCPU": 1}


def test_capacity_rules_min_max_and_step(api):
    rp = api.create_provider()["uuid"]
    api.set_inventory(rp, DISK_GB={"total": 100, "min_unit": 10, "max_unit": 50, "step_size": 5})
    for amount, status in ((5, 409), (55, 409), (12, 409), (15, 204)):
        response = api.allocate(new_uuid(), {rp: {"DISK_GB": amount}})
        assert response.status_code == status, (amount, response.text)


def test_post_swaps_a_move_on_full_providers_in_one_step(api):
    """A migration takes over the instance's allocation on a full source while
    the instance moves to the target, and back on revert: possible only
    because POST replaces every consumer it names at once."""
    source, target = api.create_provider()["uuid"], api.create_provider()["uuid"]
    api.set_inventory(source, VCPU=4)
    api.set_inventory(target, VCPU=4)
    instance, migration = new_uuid(), new_uuid()
    api.allocate(instance, {source: {"VCPU": 4}})
    moved = {
        migration: consumer_body({source: {"VCPU": 4}}, generation=None, consumer_type="MIGRATION"),
        instance: consumer_body({target: {"VCPU": 4}}, generation=1, consumer_type="INSTANCE"),
    }
    assert api.post("/allocations", moved).status_code == 204
    assert api.get(f"/allocations/{migration}").json()["allocations"][source]["resources"] == {"VCPU": 4}
    assert list(api.get(f"/allocations/{instance}").json()["allocations"]) == [target]
    reverted = {
        migration: consumer_body({}, generation=1, consumer_type="MIGRATION"),
        instance: consumer_body({source: {"VCPU": 4}}, generation=2, consumer_type="INSTANCE"),
    }
    assert api.post("/allocations", reverted).status_code == 204
    assert api.get(f"/allocations/{migration}").json() == {"allocations": {}}
    assert api.get(f"/resource_providers/{source}/usages").json()["usages"] == {"VCPU": 4}
    assert api.get(f"/resource_providers/{target}/usages").json()["usages"] == {"VCPU": 0}
