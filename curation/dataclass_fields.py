"""A dataclass filled from the same-named attributes of other objects: a page's row made of
an mlcore result's figures, without copying them across one keyword at a time."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def from_fields(cls: type[T], *sources: object, **given: Any) -> T:
    """cls(...) with each field taken from `given`, else from the first of `sources` that has
    an attribute of that name (a property counts), else left to the field's default.

    A required field that neither gives is a TypeError, as for cls() itself."""
    values = dict(given)
    for f in fields(cls):
        source = next((s for s in sources if hasattr(s, f.name)), None)
        if f.name not in values and source is not None:
            values[f.name] = getattr(source, f.name)
    return cls(**values)
