"""Ask upstream OpenStack Placement itself, to check the reference.

Run with the Python of a virtualenv that has ``openstack-placement==16.0.0``
(see docs/compatibility.md); berth is not needed there. It reads one JSON
case per line on stdin ({"world": ..., "request": ...} as written by
``worlds.world_to_json`` and ``worlds.request_to_json``), builds the world
through Placement's own HTTP API (in process, WSGI, SQLite), asks
GET /allocation_candidates (1.39, or 1.28 when not nested_aware) and writes
one JSON answer per line. The world is wiped between cases.

``test_reference_upstream.py`` drives it when BERTH_UPSTREAM_PLACEMENT_VENV
names such a virtualenv.
"""

import json
import os
import sys
import tempfile
import urllib.parse
import uuid as uuidlib

from oslo_config import cfg
import webob

from placement import conf as placement_conf
from placement import db_api
from placement import deploy

ADMIN = {"x-auth-token": "admin", "content-type": "application/json"}


def make_app(workdir):
    config = cfg.ConfigOpts()
    placement_conf.register_opts(config)
    path = os.path.join(workdir, "placement.conf")
    with open(path, "w") as handle:
        handle.write(
            "[api]\nauth_strategy = noauth2\n"
            "[placement_database]\n"
            f"connection = sqlite:///{workdir}/placement.db\n"
            "sync_on_startup = True\n"
        )
    config([], project="placement", default_config_files=[path])
    db_api.configure(config)
    return deploy.loadapp(config)


def call(app, method, path, body=None, version="1.39"):
    headers = dict(ADMIN, **{"openstack-api-version": f"placement {version}"})
    request = webob.Request.blank(path, method=method, headers=headers)
    if body is not None:
        request.body = json.dumps(body).encode()
    response = request.get_response(app)
    if response.status_int >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {response.text}")
    return response.json if response.body else None


def wipe():
    engine = db_api.get_placement_engine()
    with engine.begin() as connection:
        for table in (
            "allocations",
            "consumers",
            "inventories",
            "resource_provider_traits",
            "resource_provider_aggregates",
            "placement_aggregates",
        ):
            connection.exec_driver_sql(f"DELETE FROM {table}")
        # Children before parents.
        while connection.exec_driver_sql("SELECT count(*) FROM resource_providers").scalar():
            connection.exec_driver_sql(
                "DELETE FROM resource_providers WHERE id NOT IN "
                "(SELECT parent_provider_id FROM resource_providers "
                "WHERE parent_provider_id IS NOT NULL)"
            )


def ensure_custom_names(app, world, request):
    """Create every CUSTOM_ trait and resource class the case names."""
    traits = {t for p in world["providers"] for t in p["traits"]}
    for g in request["groups"]:
        traits |= {t for choice in g["any_of"] for t in choice} | set(g["forbidden"])
    traits |= set(request["root_required"]) | set(request["root_forbidden"])
    classes = {rc for p in world["providers"] for rc in p["inventories"]}
    classes |= {rc for g in request["groups"] for rc in g["resources"]}
    for trait in sorted(t for t in traits if t.startswith("CUSTOM_")):
        call(app, "PUT", f"/traits/{trait}")
    for rc in sorted(c for c in classes if c.startswith("CUSTOM_")):
        call(app, "PUT", f"/resource_classes/{rc}")


def build(app, world):
    for p in world["providers"]:
        body = {"uuid": p["uuid"], "name": p["name"]}
        if p["parent"]:
            body["parent_provider_uuid"] = p["parent"]
        call(app, "POST", "/resource_providers", body)
        generation = 0
        if p["inventories"]:
            invs = {rc: dict(inv) for rc, inv in p["inventories"].items()}
            answer = call(
                app,
                "PUT",
                f"/resource_providers/{p['uuid']}/inventories",
                {"resource_provider_generation": generation, "inventories": invs},
            )
            generation = answer["resource_provider_generation"]
        if p["traits"]:
            answer = call(
                app,
                "PUT",
                f"/resource_providers/{p['uuid']}/traits",
                {"resource_provider_generation": generation, "traits": p["traits"]},
            )
            generation = answer["resource_provider_generation"]
        if p["aggregates"]:
            call(
                app,
                "PUT",
                f"/resource_providers/{p['uuid']}/aggregates",
                {"resource_provider_generation": generation, "aggregates": p["aggregates"]},
            )
        for rc, amounts in p["used"].items():
            for amount in amounts:
                call(
                    app,
                    "PUT",
                    f"/allocations/{uuidlib.uuid4()}",
                    {
                        "allocations": {p["uuid"]: {"resources": {rc: amount}}},
                        "project_id": "project",
                        "user_id": "user",
                        "consumer_generation": None,
                    },
                    version="1.28",
                )


def query(request):
    """The query string for a request (see worlds.request_to_json)."""
    params = []
    for g in request["groups"]:
        s = g["suffix"]
        if g["resources"]:
            params.append((f"resources{s}", ",".join(f"{rc}:{n}" for rc, n in sorted(g["resources"].items()))))
        if request["nested_aware"]:
            for choice in g["any_of"]:
                value = ",".join(choice)
                params.append((f"required{s}", f"in:{value}" if len(choice) > 1 else value))
            for trait in g["forbidden"]:
                params.append((f"required{s}", f"!{trait}"))
        else:
            names = [c[0] for c in g["any_of"]] + [f"!{t}" for t in g["forbidden"]]
            if names:
                params.append((f"required{s}", ",".join(names)))
        for choice in g["member_of"]:
            params.append((f"member_of{s}", f"in:{','.join(choice)}"))
        if g["forbidden_aggs"]:
            params.append((f"member_of{s}", f"!in:{','.join(g['forbidden_aggs'])}"))
        if g["in_tree"]:
            params.append((f"in_tree{s}", g["in_tree"]))
    if any(g["suffix"] for g in request["groups"]):
        params.append(("group_policy", request["group_policy"]))
    root = request["root_required"] + [f"!{t}" for t in request["root_forbidden"]]
    if root:
        params.append(("root_required", ",".join(root)))
    for names in request["same_subtrees"]:
        params.append(("same_subtree", ",".join(names)))
    return urllib.parse.urlencode(params)


def answer(app, request):
    version = "1.39" if request["nested_aware"] else "1.28"
    body = call(app, "GET", f"/allocation_candidates?{query(request)}", version=version)
    return {
        "allocation_requests": [
            {
                "allocations": {rp: a["resources"] for rp, a in areq["allocations"].items()},
                "mappings": areq.get("mappings"),
            }
            for areq in body["allocation_requests"]
        ],
        "summaries": sorted(body["provider_summaries"]),
    }


def main():
    workdir = tempfile.mkdtemp(prefix="upstream-oracle-")
    app = make_app(workdir)
    for line in sys.stdin:
        case = json.loads(line)
        wipe()
        try:
            ensure_custom_names(app, case["world"], case["request"])
            build(app, case["world"])
            result = answer(app, case["request"])
        except Exception as error:  # reported to the driver, which fails
            result = {"error": repr(error)}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
