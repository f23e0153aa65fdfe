from __future__ import annotations

import pytest

from berth.config import SchedulerSettings
from berth.scheduler.filters import FILTERS
from berth.scheduler.pipeline import Pipeline
from berth.scheduler.registry import DuplicatePlugin, Registry, UnknownPlugin
from berth.scheduler.weighers import WEIGHERS


def test_a_name_registers_once():
    registry: Registry[object] = Registry("thing")

    @registry.register("one")
    class One:
        pass

    assert registry.get("one") is One and One.name == "one"
    with pytest.raises(DuplicatePlugin):
        registry.register("one")(type("Other", (), {}))


def test_unknown_and_twice_enabled_names_are_refused():
    with pytest.raises(UnknownPlugin, match="known:"):
        FILTERS.create(["cell", "no_such_filter"])
    with pytest.raises(DuplicatePlugin):
        WEIGHERS.create(["ram", "ram"])


def test_the_configured_order_is_the_pipelines_order():
    pipeline = Pipeline(SchedulerSettings(filters=("cell", "disabled"), weighers=("vcpu",), vcpu_weight_multiplier=-2.0))
    assert [f.name for f in pipeline.filters] == ["cell", "disabled"]
    assert [w.name for w in pipeline.weighers] == ["vcpu"]
    assert pipeline.multipliers == [-2.0]


def test_defaults_enable_every_registered_plugin():
    settings = SchedulerSettings()
    assert set(settings.filters) == set(FILTERS.names)
    assert set(settings.weighers) == set(WEIGHERS.names)
