"""The run page's precision-recall curves: inline SVG, drawn here, no chart library (no
inline style or script: the page's CSP refuses both)."""

from __future__ import annotations

import math

from django import template
from django.utils.html import escape

from curation.templatetags.panel_grid import panel_grid

register = template.Library()

SIZE = 130  # a panel's side in SVG units
PAD = 30  # room for the axis ticks
GAP = 20  # between panels
COLOUR = "#7c3aed"


def _panel(c, *, x0: float, y0: float) -> str:
    """One class: the curve (recall across, precision up), the frame, and a dashed line at
    the class's prevalence (what a random ranking scores); its AP under the frame."""
    curve = c.curve
    top, left = y0 + 18, x0 + PAD
    bottom, right = top + SIZE, left + SIZE
    ap = curve.average_precision
    note = f"AP {ap:.3f} · {curve.support} given" if not math.isnan(ap) else "none given"
    points = " ".join(
        f"{left + r * SIZE:.1f},{bottom - p * SIZE:.1f}"
        for p, r in zip(curve.precision.tolist(), curve.recall.tolist(), strict=True)
    )
    base_y = bottom - curve.prevalence * SIZE
    return (
        f"<g><title>{escape(c.name)}: {escape(note)}</title>"
        f'<text class="tick" x="{left}" y="{y0 + 12}">{escape(c.name)}</text>'
        f'<text class="tick" x="{left}" y="{bottom + 16}">{escape(note)}</text>'
        f'<rect fill="none" stroke="#d1d5db" x="{left}" y="{top}" width="{SIZE}" '
        f'height="{SIZE}"/>'
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">1</text>'
        f'<text class="tick" x="{left - 4}" y="{bottom}" text-anchor="end">0</text>'
        + (
            f'<line stroke="#6b7280" stroke-dasharray="4 3" x1="{left}" x2="{right}" '
            f'y1="{base_y:.1f}" y2="{base_y:.1f}"/>'
            if curve.support
            else ""
        )
        + (
            f'<polyline class="pr" fill="none" stroke="{COLOUR}" stroke-width="1.5" '
            f'points="{points}"/>'
            if points
            else ""
        )
        + "</g>"
    )


@register.simple_tag
def pr_curves_svg(classes, per_row=4):
    """One small panel per class. classes: [queries.pr_curves.ClassPR]."""
    grid = panel_grid(classes, _panel, per_row=per_row, cell=(SIZE + PAD + GAP, SIZE + 44))
    return grid.svg("pr-curves", "precision-recall curve per class on the test split")
