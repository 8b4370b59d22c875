"""Domain objects to stored documents and back, through pydantic type adapters.

Nested parts are stored in JSON form (dates as ISO strings, enums as values); the top-level
instants the queries filter on stay native datetimes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")
_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: type[T]) -> TypeAdapter[T]:
    if kind not in _adapters:
        _adapters[kind] = TypeAdapter(kind)
    adapter: TypeAdapter[T] = _adapters[kind]
    return adapter


def dump(kind: type[T], value: T) -> Any:
    return _adapter(kind).dump_python(value, mode="json")


def load(kind: type[T], data: Any) -> T:
    return _adapter(kind).validate_python(data)
