"""The placement domain: resource providers, inventories, traits, resource
classes, aggregates, consumers, allocations, usages and the queries over them.
Pure Python; no HTTP and no database here."""
