"""Small SVG panels laid out in a grid, one per item: the run page's per-class charts (no
`register`: Django loads this as a helper, not as a tag library)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape, mark_safe


@dataclass(frozen=True)
class PanelGrid:
    panels: str  # the panels' SVG elements, "" with no items
    width: float
    height: float

    def svg(self, css_class: str, label: str) -> str:
        """The chart: an <svg> of class "chart `css_class`" read out as `label`; "" when
        there is nothing to draw."""
        if not self.panels:
            return ""
        return mark_safe(
            f'<svg class="chart {css_class}" viewBox="0 0 {self.width} {self.height}" '
            f'role="img" aria-label="{escape(label)}">{self.panels}</svg>'
        )


def panel_grid(
    items: Sequence[Any] | None,
    draw: Callable[..., str],
    *,
    per_row: int,
    cell: tuple[float, float],
) -> PanelGrid:
    """`draw(item, x0=, y0=)` for each item, left to right in rows of `per_row` cells of
    `cell` (width, height). No items (None included): an empty grid, drawn as ""."""
    items = items or ()
    cell_w, cell_h = cell
    rows = (len(items) + per_row - 1) // per_row
    panels = "".join(
        draw(item, x0=(i % per_row) * cell_w, y0=(i // per_row) * cell_h)
        for i, item in enumerate(items)
    )
    return PanelGrid(panels, min(len(items), per_row) * cell_w, rows * cell_h)
