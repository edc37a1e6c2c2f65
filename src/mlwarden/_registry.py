"""One registry type for every pluggable kind (monitor kinds, channels, engines).

A class registers itself under its ``kind: ClassVar[str]``; duplicate keys are
rejected, and error messages list the valid keys from the registry itself.
"""

from __future__ import annotations

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
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

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
        return cls

    def get(self, key: str) -> T:
        try:
            return self._items[key]
        except KeyError:
            raise ConfigError(
                f"The {self.what!r} kind must be one of {', '.join(sorted(self._items))}. "
                f"Got {key!r} instead."
            ) from None

    def keys(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def decorator(self) -> Callable[[T], T]:
        return self.register
