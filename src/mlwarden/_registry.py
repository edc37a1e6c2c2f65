"""One registry type for every pluggable kind (monitor kinds, channels, engines).

A class registers itself under its ``kind: ClassVar[str]``; duplicate keys are
rejected, and error messages list the valid keys from the registry itself.

A kind can also be *declared* by name and module (:meth:`Registry.declare`) without
importing it: the module is imported when the kind is first looked up, and must register a
class under that key then. Declared kinds count as registered for ``in``, ``keys()`` and
``len()``, so every table derived from a registry sees them all; ``get`` of each imports
what is needed and no more (a tabular model's set-up never imports the LLM kinds and their
pattern tables).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import ClassVar, Generic, Protocol, TypeVar

from mlwarden.errors import ConfigError, ConflictError


class HasKind(Protocol):
    kind: ClassVar[str]


T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """A mapping from ``kind`` to class.

    Examples
    --------
    >>> class Engine:
    ...     kind = "base"
    >>> engines: Registry[type[Engine]] = Registry("engine")
    >>> @engines.register
    ... class Duck(Engine):
    ...     kind = "duck"
    >>> engines.get("duck").__name__
    'Duck'
    >>> engines.get("goose")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'engine' kind must be one of duck. Got 'goose' instead.

    A kind declared by module is imported on its first lookup:

    >>> engines.declare("decimal", "decimal")
    >>> "decimal" in engines, engines.keys()
    (True, ['decimal', 'duck'])
    >>> engines.get("decimal")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: Importing decimal registered no engine of kind 'decimal'; declare the module that registers it.
    """  # noqa: E501

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        #: kinds declared by the module that registers them, not imported yet
        self._declared: dict[str, str] = {}

    def declare(self, key: str, module: str) -> None:
        """Say that importing ``module`` registers the kind ``key``, without importing it now.

        A kind registered already (its module imported) needs no declaration; declaring a
        key twice, or a registered key from another module, is a conflict."""
        known = self._items.get(key)
        if known is not None:
            if known.__module__ != module:
                raise ConflictError(
                    f"A {self.what} of kind {key!r} is registered already from "
                    f"{known.__module__}, not {module}."
                )
            return
        if self._declared.get(key, module) != module:
            raise ConflictError(
                f"A {self.what} of kind {key!r} is declared already in {self._declared[key]}."
            )
        self._declared[key] = module

    def register(self, cls: T) -> T:
        key = getattr(cls, "kind", None)
        if not isinstance(key, str) or not key:
            raise ConfigError(
                f"{cls.__name__} needs a non-empty 'kind' class attribute to be a {self.what}."
            )
        if key in self._items:
            raise ConflictError(
                f"A {self.what} of kind {key!r} is registered already ({self._items[key].__name__})."
            )
        self._items[key] = cls
        self._declared.pop(key, None)
        return cls

    def get(self, key: str) -> T:
        item = self._items.get(key)
        if item is not None:
            return item
        module = self._declared.get(key)
        if module is None:
            raise ConfigError(
                f"The {self.what!r} kind must be one of {', '.join(self.keys())}. "
                f"Got {key!r} instead."
            )
        importlib.import_module(module)
        item = self._items.get(key)
        if item is None:
            raise ConfigError(
                f"Importing {module} registered no {self.what} of kind {key!r}; declare the "
                "module that registers it."
            )
        return item

    def keys(self) -> list[str]:
        return sorted({*self._items, *self._declared})

    def __contains__(self, key: object) -> bool:
        return key in self._items or key in self._declared

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items) + len(self._declared)

    def decorator(self) -> Callable[[T], T]:
        return self.register
