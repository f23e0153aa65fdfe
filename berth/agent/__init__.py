"""The compute agent: a berth client that runs on a host.

It writes its host's own state (seed 04): a resource provider tree (the
compute node, its NUMA nodes, its devices) with inventories, traits,
aggregates and cell, each write guarded by the provider generation, and
re-asserts it periodically. It pulls the builds assigned to its host and
runs them through a driver (``driver.Driver``; ``FakeDriver`` for tests and
simulations), then reports each outcome. See docs/agent.md.
"""
