"""Plugins registered by name, in a registry that refuses duplicates.

Filters and weighers register themselves with a decorator at import time;
configuration names which ones run and in which order. Nothing is found by
scanning the filesystem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class DuplicatePlugin(ValueError):
    pass


class UnknownPlugin(ValueError):
    pass


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._plugins: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def add(plugin: type[T]) -> type[T]:
            if name in self._plugins:
                raise DuplicatePlugin(f"{self.kind} {name!r} is registered twice")
            plugin.name = name  # type: ignore[attr-defined]
            self._plugins[name] = plugin
            return plugin

        return add

    def get(self, name: str) -> type[T]:
        try:
            return self._plugins[name]
        except KeyError:
            raise UnknownPlugin(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._plugins))}"
            ) from None

    def create(self, names: Iterable[str]) -> list[T]:
        """One instance of each named plugin, in the given order."""
        names = list(names)
        if len(set(names)) != len(names):
            raise DuplicatePlugin(f"a {self.kind} is enabled twice: {names}")
        return [self.get(name)() for name in names]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._plugins)
