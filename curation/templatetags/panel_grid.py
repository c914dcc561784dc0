"""Small SVG panels laid out in a grid, one per item, for the run page's per-class charts
(no `register`: Django loads this as a helper, not as a tag library)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def panel_grid(
    items: Sequence[Any],
    draw: Callable[..., str],
    *,
    per_row: int,
    cell_w: float,
    cell_h: float,
) -> tuple[str, float, float]:
    """(the panels' SVG, its width, its height): `draw(item, x0=, y0=)` for each item, left
    to right in rows of `per_row` cells of `cell_w` by `cell_h`."""
    rows = (len(items) + per_row - 1) // per_row
    width = min(len(items), per_row) * cell_w
    panels = "".join(
        draw(item, x0=(i % per_row) * cell_w, y0=(i // per_row) * cell_h)
        for i, item in enumerate(items)
    )
    return panels, width, rows * cell_h
