"""The HTTP surface as data: path -> method -> handlers.

A method lists one handler, or several that serve different microversion
ranges (declared with ``@versioned``; together they must tile the versions
from the first one to the newest). A known path with another method gets 405
with ``Allow``; an unknown path gets 404. Paths use no patterns in their
parameters, so a malformed uuid reaches the handler and gets its 404.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from berth.api.handlers import (
    aggregate,
    allocation,
    build,
    allocation_candidate,
    inventory,
    reshaper,
    resource_class,
    resource_provider,
    root,
    selection,
    trait,
    usage,
)

Handlers = tuple[Callable, ...]

ROUTES: Mapping[str, Mapping[str, Handlers]] = {
    # The root; under a mount prefix, the bare prefix is served as "/" too.
    "/": {"GET": (root.home,)},
    "/resource_classes": {
        "GET": (resource_class.list_resource_classes,),
        "POST": (resource_class.create_resource_class,),
    },
    "/resource_classes/{name}": {
        "GET": (resource_class.get_resource_class,),
        "PUT": (resource_class.rename_resource_class, resource_class.ensure_resource_class),
        "DELETE": (resource_class.delete_resource_class,),
    },
    "/resource_providers": {
        "GET": (resource_provider.list_resource_providers,),
        "POST": (resource_provider.create_resource_provider,),
    },
    "/resource_providers/{uuid}": {
        "GET": (resource_provider.get_resource_provider,),
        "DELETE": (resource_provider.delete_resource_provider,),
        "PUT": (resource_provider.update_resource_provider,),
    },
    "/resource_providers/{uuid}/inventories": {
        "GET": (inventory.get_inventories,),
        "POST": (inventory.create_inventory,),
        "PUT": (inventory.set_inventories,),
        "DELETE": (inventory.delete_inventories,),
    },
    "/resource_providers/{uuid}/inventories/{resource_class}": {
        "GET": (inventory.get_inventory,),
        "PUT": (inventory.update_inventory,),
        "DELETE": (inventory.delete_inventory,),
    },
    "/resource_providers/{uuid}/usages": {"GET": (usage.list_provider_usages,)},
    "/resource_providers/{uuid}/aggregates": {
        "GET": (aggregate.get_aggregates,),
        "PUT": (aggregate.set_aggregates,),
    },
    "/resource_providers/{uuid}/allocations": {
        "GET": (allocation.list_for_resource_provider,),
    },
    "/allocations": {"POST": (allocation.set_allocations,)},
    "/allocations/{consumer_uuid}": {
        "GET": (allocation.list_for_consumer,),
        "PUT": (
            allocation.set_allocations_v1_0,
            allocation.set_allocations_v1_8,
            allocation.set_allocations_v1_12,
            allocation.set_allocations_v1_28,
            allocation.set_allocations_v1_34,
            allocation.set_allocations_v1_38,
        ),
        "DELETE": (allocation.delete_allocations,),
    },
    "/allocation_candidates": {"GET": (allocation_candidate.list_allocation_candidates,)},
    "/traits": {"GET": (trait.list_traits,)},
    "/traits/{name}": {
        "GET": (trait.get_trait,),
        "PUT": (trait.put_trait,),
        "DELETE": (trait.delete_trait,),
    },
    "/resource_providers/{uuid}/traits": {
        "GET": (trait.list_provider_traits,),
        "PUT": (trait.set_provider_traits,),
        "DELETE": (trait.delete_provider_traits,),
    },
    "/usages": {"GET": (usage.get_total_usages,)},
    "/reshaper": {"POST": (reshaper.reshape,)},
}

# berth's own resources (berth/api/handlers/selection.py), kept out of
# ROUTES so that ROUTES stays exactly Placement's surface; the app serves
# both. None of these paths exists in Placement; they are served from
# microversion 1.39 on (docs/scheduler.md).
BERTH_ROUTES: Mapping[str, Mapping[str, Handlers]] = {
    "/selections": {"POST": (selection.create_selections,)},
    "/selections/alternates/{alternate_id}/claim": {"POST": (selection.claim_alternate,)},
    "/resource_providers/{uuid}/cell": {
        "GET": (selection.get_cell,),
        "PUT": (selection.set_cell,),
    },
    # berth/api/handlers/build.py. /builds/assignments comes before
    # /builds/{build_id}: the first path that matches serves the request.
    "/builds": {"GET": (build.list_builds,), "POST": (build.create_build,)},
    "/builds/assignments": {"GET": (build.list_assignments,)},
    "/builds/{build_id}": {"GET": (build.get_build,)},
    "/builds/{build_id}/instances/{instance_uuid}": {"DELETE": (build.delete_instance,)},
    "/builds/{build_id}/instances/{instance_uuid}/attempts/{attempt}": {"PUT": (build.report_attempt,)},
    "/builds/{build_id}/instances/{instance_uuid}/migrate": {"POST": (build.migrate_instance,)},
    "/builds/{build_id}/instances/{instance_uuid}/migration/confirm": {"POST": (build.confirm_migration,)},
    "/builds/{build_id}/instances/{instance_uuid}/migration/revert": {"POST": (build.revert_migration,)},
}
