"""HostIndex's cell column: what a cell hint asks of the search."""

from __future__ import annotations

import numpy as np
import pytest

from berth.placement.model import Inventory, ProviderSnapshot
from berth.scheduler.hosts import HostIndex


def _host(uuid: str, cell: str | None, aggregates: frozenset[str] = frozenset()) -> ProviderSnapshot:
    return ProviderSnapshot(
        uuid=uuid, name=uuid, generation=1, root_provider_uuid=uuid, parent_provider_uuid=None,
        inventories={"VCPU": Inventory("VCPU", 8)}, usages={}, traits=frozenset(), aggregates=aggregates,
        cell=cell,
    )


def _in_cell(index: HostIndex, cell: str) -> set[str]:
    return {index.uuid(int(slot)) for slot in np.flatnonzero(index.in_cell(cell))}


def test_cells_follow_moves_deletions_and_growth():
    index = HostIndex()
    hosts = [f"host-{n}" for n in range(3000)]  # more than the first slots: the column grows
    index.apply([_host(uuid, f"cell{n % 3}") for n, uuid in enumerate(hosts)], [])
    assert _in_cell(index, "cell1") == {u for n, u in enumerate(hosts) if n % 3 == 1}
    index.apply([_host("host-1", "cell2"), _host("host-4", None)], ["host-7"])
    assert "host-1" in _in_cell(index, "cell2") and "host-1" not in _in_cell(index, "cell1")
    assert "host-4" not in _in_cell(index, "cell1") and index.attributes("host-4").cell is None
    assert "host-7" not in _in_cell(index, "cell1")
    # A new provider takes the deleted one's slot, without its cell.
    index.apply([_host("newcomer", None)], [])
    assert "newcomer" not in _in_cell(index, "cell1")
    assert _in_cell(index, "cell-unknown") == set()


def test_a_complete_reload_forgets_every_cell():
    index = HostIndex()
    index.apply([_host("a", "c1")], [])
    index.replace_all([_host("b", "c2")])
    assert _in_cell(index, "c1") == set() and _in_cell(index, "c2") == {"b"}


def test_cell_masks_and_attributes_kept_between_searches_follow_every_change():
    index = HostIndex()
    index.apply([_host("a", "c1", frozenset({"agg-1"})), _host("b", "c1")], [])
    assert _in_cell(index, "c1") == {"a", "b"}
    assert index.attributes("a").cell == "c1" and index.attributes("a").aggregates == {"agg-1"}
    index.apply([_host("a", "c2", frozenset({"agg-2"}))], ["b"])
    assert _in_cell(index, "c1") == set() and _in_cell(index, "c2") == {"a"}
    assert index.attributes("a").cell == "c2" and index.attributes("a").aggregates == {"agg-2"}
    assert index.attributes("b").cell is None
    # A claim changes no cell: the feed's usages leave both as they were.
    index.add_usages({"a": {"VCPU": 2}})
    assert _in_cell(index, "c2") == {"a"}
    with pytest.raises(ValueError):
        index.in_cell("c2")[0] = True  # shared between searches: read-only
