"""Trait and aggregate requirements: all groups met, nothing forbidden."""

from hypothesis import given
from hypothesis import strategies as st

from berth.placement.query import AggregateRequirement, TraitRequirement

names = st.sampled_from(["A", "B", "C", "D", "E"])
name_sets = st.frozensets(names)


def test_required_any_of_and_forbidden():
    requirement = TraitRequirement(any_of=(frozenset({"A"}), frozenset({"B", "C"})), forbidden=frozenset({"D"}))
    assert requirement.is_met_by({"A", "C"})
    assert not requirement.is_met_by({"A"})
    assert not requirement.is_met_by({"A", "B", "D"})
    assert requirement.names == {"A", "B", "C", "D"}


@given(groups=st.lists(name_sets.filter(bool), max_size=3), forbidden=name_sets, have=name_sets)
def test_requirement_matches_its_definition(groups, forbidden, have):
    requirement = AggregateRequirement(any_of=tuple(groups), forbidden=forbidden)
    expected = all(any(n in have for n in group) for group in groups) and not any(n in have for n in forbidden)
    assert requirement.is_met_by(have) == expected
