"""from_fields: a dataclass filled from the same-named attributes of other objects."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from curation.dataclass_fields import from_fields


@dataclass
class Row:
    name: str
    n: int
    share: float
    note: str = "none"


@dataclass
class Counts:
    n: int
    total: int

    @property
    def share(self) -> float:
        return self.n / self.total


def test_given_values_win_then_the_first_source_then_the_default():
    row = from_fields(Row, Counts(1, 4), Counts(3, 4), name="a")

    assert row == Row(name="a", n=1, share=0.25, note="none")


def test_a_given_value_overrides_a_source():
    assert from_fields(Row, Counts(1, 4), name="a", n=7, note="x").n == 7


def test_a_required_field_no_one_gives_is_refused():
    with pytest.raises(TypeError, match="name"):
        from_fields(Row, Counts(1, 4))
