"""The placement domain: providers, inventories, consumers, allocations.

These small immutable objects are what crosses the boundary between the API,
the scheduler and the store. They carry no behaviour beyond derived values.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping

# Placement's upper bound for integer fields (a signed 32-bit int).
MAX_INT = 2147483647

# Which consumer type a consumer has when none was given (before 1.38).
UNKNOWN_CONSUMER_TYPE = "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class Timestamps:
    """When a record was created and last changed, for last-modified."""

    created_at: datetime.datetime
    updated_at: datetime.datetime | None = None

    @property
    def last_modified(self) -> datetime.datetime:
        return self.updated_at or self.created_at


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogName:
    """A standard or custom (``CUSTOM_*``) name in one of the catalogs."""

    name: str
    timestamps: Timestamps

    @property
    def is_custom(self) -> bool:
        return self.name.startswith("CUSTOM_")


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceClass(CatalogName):
    """A kind of resource: VCPU, MEMORY_MB, CUSTOM_GOLD_BAREMETAL..."""


@dataclasses.dataclass(frozen=True, slots=True)
class Trait(CatalogName):
    """A qualitative property of a provider: HW_CPU_X86_AVX2, CUSTOM_..."""


@dataclasses.dataclass(frozen=True, slots=True)
class ResourceProvider:
    uuid: str
    name: str
    generation: int
    root_provider_uuid: str
    parent_provider_uuid: str | None
    timestamps: Timestamps


@dataclasses.dataclass(frozen=True, slots=True)
class Inventory:
    resource_class: str
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = MAX_INT
    step_size: int = 1
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> float:
        """How much may be allocated: ``(total - reserved) * ratio``."""
        return (self.total - self.reserved) * self.allocation_ratio

    def admits(self, amount: int) -> bool:
        """True when one allocation of ``amount`` respects the unit rules."""
        return (
            self.min_unit <= amount <= self.max_unit
            and amount % self.step_size == 0
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderInventories:
    """A provider's whole inventory as read at one generation."""

    provider: ResourceProvider
    inventories: Mapping[str, Inventory]
    last_modified: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderTraits:
    provider: ResourceProvider
    traits: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderAggregates:
    provider: ResourceProvider
    aggregates: frozenset[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Consumer:
    uuid: str
    project_id: str
    user_id: str
    generation: int
    consumer_type: str = UNKNOWN_CONSUMER_TYPE


@dataclasses.dataclass(frozen=True, slots=True)
class Allocation:
    """An amount of one resource class that a consumer holds on a provider."""

    resource_provider_uuid: str
    resource_class: str
    used: int


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderAllocation:
    """What one provider holds for one consumer, with its generation."""

    provider: ResourceProvider
    resources: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerAllocations:
    """Everything one consumer holds (empty when the consumer is unknown)."""

    consumer: Consumer | None
    allocations: tuple[ProviderAllocation, ...]
    last_modified: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerUsage:
    """A consumer's allocations on one provider (for GET .../allocations),
    with the consumer's generation, which Placement reports from 1.28."""

    consumer_uuid: str
    resources: Mapping[str, int]
    consumer_generation: int


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderAllocations:
    provider: ResourceProvider
    consumers: tuple[ConsumerUsage, ...]
    last_modified: datetime.datetime | None = None


class _NotChecked:
    """The consumer generation is not checked (requests before 1.28)."""

    def __repr__(self) -> str:
        return "NOT_CHECKED"


NOT_CHECKED = _NotChecked()


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerClaim:
    """Replace all of one consumer's allocations (an empty mapping clears them).

    ``expected_generation`` is the consumer generation the caller read:
    ``None`` asserts the consumer does not exist yet, ``NOT_CHECKED`` skips
    the check (Placement before microversion 1.28). ``consumer_type`` of
    ``None`` keeps the existing type (or ``unknown`` for a new consumer).
    """

    consumer_uuid: str
    project_id: str
    user_id: str
    allocations: Mapping[str, Mapping[str, int]]
    expected_generation: int | None | _NotChecked = NOT_CHECKED
    consumer_type: str | None = None

    @property
    def clears(self) -> bool:
        return not self.allocations


@dataclasses.dataclass(frozen=True, slots=True)
class InventoryChange:
    """Replace a provider's inventory, guarded by its generation (reshaper)."""

    provider_uuid: str
    expected_generation: int
    inventories: Mapping[str, Inventory]


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    resource_class: str
    usage: int


@dataclasses.dataclass(frozen=True, slots=True)
class UsageByConsumerType:
    """Usages of one consumer type (``all`` sums every type) from 1.38."""

    consumer_type: str
    consumer_count: int
    usages: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class UsageReport:
    """A provider's or a project's usage, with when it last changed."""

    usages: Mapping[str, int]
    last_modified: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderSnapshot:
    """One provider as the candidate index sees it, read at one generation."""

    uuid: str
    name: str
    generation: int
    root_provider_uuid: str
    parent_provider_uuid: str | None
    inventories: Mapping[str, Inventory]
    usages: Mapping[str, int]
    traits: frozenset[str]
    aggregates: frozenset[str]
    # The cell the provider belongs to (berth's own attribute, not
    # Placement's; None: no cell). The scheduler reads a host's cell here.
    cell: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderRegistration:
    """A new provider with everything it starts with, for registering many
    at once (``Store.register_providers``). A parent comes before its
    children in a batch, or exists already."""

    uuid: str
    name: str
    parent_uuid: str | None = None
    inventories: Mapping[str, Inventory] = dataclasses.field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()
    # The cell an agent reports for its provider (see ProviderSnapshot.cell).
    cell: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UsageChange:
    """A provider of which only the usages changed: what it uses now of
    each class (a class it no longer uses is absent)."""

    uuid: str
    usages: Mapping[str, int]


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderChanges:
    """What changed in the store since a cursor, as of one consistent point.

    ``complete`` means ``providers`` holds every provider and the reader must
    replace what it had; otherwise ``providers`` are the new or changed ones,
    ``usages`` the providers of which only the usages changed (claims, the
    common change; a backend may report those in ``providers`` instead) and
    ``removed`` the uuids of providers deleted since the cursor. Pass
    ``cursor`` back to read only later changes.
    """

    cursor: str
    complete: bool
    providers: tuple[ProviderSnapshot, ...]
    removed: tuple[str, ...] = ()
    usages: tuple[UsageChange, ...] = ()
