"""berth's domain errors: one hierarchy, raised by the store and the domain.

Layers below the API raise these; ``berth/api/errors.py`` turns each into a
status code, a Placement error code and a message. The messages are the ones
Placement gives for the same condition, because clients and upstream's own
tests read them.

    BerthError
    ├── NotFound               404 (or 400 where the missing thing is in a body)
    │   ├── ResourceProviderNotFound
    │   ├── ResourceClassNotFound
    │   ├── TraitNotFound
    │   └── InventoryNotFound
    ├── Conflict               409
    │   ├── ConcurrentUpdate                (placement.concurrent_update)
    │   ├── DuplicateProviderName           (placement.duplicate_name)
    │   ├── ProviderExists
    │   ├── ResourceClassExists / TraitExists
    │   ├── ResourceClassInUse / TraitInUse
    │   ├── ProviderInUse                   (placement.resource_provider.inuse)
    │   ├── CannotDeleteParent              (...cannot_delete_parent)
    │   ├── InventoryInUse                  (placement.inventory.inuse)
    │   └── InvalidAllocation
    │       ├── NoInventoryForAllocation
    │       ├── CapacityExceeded
    │       └── UnitConstraintsViolated
    └── InvalidRequest         400
        ├── InvalidInventory
        ├── CannotChangeStandard
        └── InvalidParent
"""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error the domain raises on purpose."""

    message = "An unknown error occurred."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def detail(self) -> str:
        return str(self)


class NotFound(BerthError):
    message = "Resource could not be found."


class ResourceProviderNotFound(NotFound):
    def __init__(self, uuid: str, message: str | None = None) -> None:
        self.uuid = uuid
        super().__init__(message or f"No resource provider with uuid {uuid} found")


class ResourceClassNotFound(NotFound):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"No such resource class {name}.")


class TraitNotFound(NotFound):
    def __init__(self, names: str | list[str]) -> None:
        self.names = [names] if isinstance(names, str) else sorted(names)
        super().__init__(f"No such trait(s): {', '.join(self.names)}.")


class InventoryNotFound(NotFound):
    def __init__(self, provider_uuid: str, resource_class: str) -> None:
        self.provider_uuid = provider_uuid
        self.resource_class = resource_class
        super().__init__(
            f"No inventory of class {resource_class} found for "
            f"resource provider {provider_uuid}"
        )


class Conflict(BerthError):
    message = "There was a conflict when trying to complete your request."


class StoreUnavailable(BerthError):
    """The database could not answer now (a backend's replicas are down or
    timed out): retrying later may succeed; nothing was acknowledged."""

    message = "The database is unavailable."


class ConcurrentUpdate(Conflict):
    """A generation moved between the caller's read and its write."""

    message = (
        "Another thread concurrently updated the data. Please retry your update"
    )


class DuplicateProviderName(Conflict):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Conflicting resource provider name: {name} already exists.")


class ProviderExists(Conflict):
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(f"Conflicting resource provider uuid: {uuid} already exists.")


class ResourceClassExists(Conflict):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Resource class {name} already exists.")


class ResourceClassInUse(Conflict):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Cannot delete resource class {name}. "
            "Class is in use in inventory."
        )


class TraitExists(Conflict):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The Trait {name} already exists")


class TraitInUse(Conflict):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"The trait {name} is in use by a resource provider.")


class ProviderInUse(Conflict):
    message = "Resource provider has allocations."


class CannotDeleteParent(Conflict):
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        super().__init__(
            "Cannot delete resource provider that is a parent of "
            "another. Delete child providers first."
        )


class InventoryInUse(Conflict):
    def __init__(self, provider_uuid: str, resource_classes: list[str]) -> None:
        self.provider_uuid = provider_uuid
        self.resource_classes = list(resource_classes)
        super().__init__(
            f"Inventory for '{', '.join(self.resource_classes)}' on "
            f"resource provider '{provider_uuid}' in use."
        )


class InvalidAllocation(Conflict):
    """An allocation the inventory cannot take."""


class NoInventoryForAllocation(InvalidAllocation):
    def __init__(self, provider_uuid: str, resource_class: str) -> None:
        self.provider_uuid = provider_uuid
        self.resource_class = resource_class
        super().__init__(
            f"Inventory for '{resource_class}' on resource provider "
            f"'{provider_uuid}' invalid."
        )


class CapacityExceeded(InvalidAllocation):
    def __init__(self, provider_uuid: str, resource_class: str) -> None:
        self.provider_uuid = provider_uuid
        self.resource_class = resource_class
        super().__init__(
            f"Unable to create allocation for '{resource_class}' on resource "
            f"provider '{provider_uuid}'. The requested amount would exceed "
            "the capacity."
        )


class UnitConstraintsViolated(InvalidAllocation):
    def __init__(self, provider_uuid: str, resource_class: str) -> None:
        self.provider_uuid = provider_uuid
        self.resource_class = resource_class
        super().__init__(
            f"Unable to create allocation for '{resource_class}' on resource "
            f"provider '{provider_uuid}'. The requested amount would violate "
            "inventory constraints."
        )


class InvalidRequest(BerthError):
    message = "The request is invalid."


class InvalidInventory(InvalidRequest):
    """An inventory whose numbers contradict each other."""


class CannotChangeStandard(InvalidRequest):
    """Standard resource classes and traits are read-only."""


class InvalidParent(InvalidRequest):
    """A re-parenting that would make a loop or is not allowed."""
