"""The run page's reliability diagrams: inline SVG, drawn here, no chart library."""

from __future__ import annotations

from django import template
from django.utils.html import escape, mark_safe

from curation.templatetags.panel_grid import panel_grid

register = template.Library()

SIZE = 220  # a big panel's side in SVG units
SMALL = 130  # a per-class panel's side
PAD = 30  # room for the axis ticks
GAP = 20  # between panels


def _bar(b, *, left: float, top: float, size: float, colour: str) -> str:
    """One non-empty bin: a bar at its accuracy (share right), a tick at its mean
    confidence, its count under the axis."""
    x, w = left + b.low * size + 0.5, (b.high - b.low) * size - 1
    y_acc, y_conf = top + (1 - b.accuracy) * size, top + (1 - b.confidence) * size
    row = round(b.low / (b.high - b.low)) % 2  # neighbours' counts on two lines: no overlap
    y_count = top + size + 9 + 8 * row
    about = (
        f"{b.low:.2f}–{b.high:.2f}: {b.count} images, share right {b.accuracy:.3f}, "
        f"mean confidence {b.confidence:.3f}"
    )
    return (
        f"<g><title>{about}</title>"
        f'<rect fill="{colour}" x="{x:.1f}" y="{y_acc:.1f}" width="{w:.1f}" '
        f'height="{b.accuracy * size:.1f}"/>'
        f'<line stroke="#111827" stroke-width="1.5" x1="{x:.1f}" x2="{x + w:.1f}" '
        f'y1="{y_conf:.1f}" y2="{y_conf:.1f}"/>'
        f'<text class="tick count" x="{x + w / 2:.1f}" y="{y_count}" '
        f'text-anchor="middle">{b.count}</text></g>'
    )


def _panel(
    bins, *, x0: float, y0: float = 0, size: float, title: str, colour: str, note: str = ""
) -> str:
    """One panel: the bins' bars, the frame and the diagonal (perfect calibration); the
    title above it, the note under its counts."""
    top, left = y0 + 18, x0 + PAD
    bottom, right = top + size, left + size
    return (
        f'<text class="tick" x="{left}" y="{y0 + 12}">{escape(title)}</text>'
        f'<text class="tick" x="{left}" y="{bottom + 34}">{escape(note)}</text>'
        f'<rect fill="none" stroke="#d1d5db" x="{left}" y="{top}" width="{size}" '
        f'height="{size}"/>'
        f'<line stroke="#6b7280" stroke-dasharray="4 3" x1="{left}" y1="{bottom}" '
        f'x2="{right}" y2="{top}"/>'
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">1</text>'
        f'<text class="tick" x="{left - 4}" y="{bottom}" text-anchor="end">0</text>'
        + "".join(_bar(b, left=left, top=top, size=size, colour=colour) for b in bins if b.count)
    )


@register.simple_tag
def reliability_svg(calibration):
    """Before and after temperature scaling, side by side, on the test split: accuracy per
    top-1 confidence bin against the diagonal. calibration: mlcore.eval.calibration.Calibration."""
    if calibration is None or not calibration.test_count:
        return mark_safe('<p class="muted">No test predictions to draw.</p>')
    width = 2 * (SIZE + PAD) + GAP
    before = _panel(
        calibration.bins_before, x0=0, size=SIZE, title="before (raw)", colour="#cbd5e1"
    )
    after = _panel(
        calibration.bins_after,
        x0=SIZE + PAD + GAP,
        size=SIZE,
        title=f"after (T = {calibration.temperature:.3f})",
        colour="#7c3aed",
    )
    axis = (
        f'<text class="tick" x="{width - GAP}" y="{SIZE + 48}" text-anchor="end">'
        "x: top-1 confidence · y: share right · numbers: images per bin</text>"
    )
    return mark_safe(
        f'<svg class="chart reliability" viewBox="0 0 {width} {SIZE + 54}" role="img" '
        'aria-label="reliability diagram: accuracy by confidence, before and after '
        f'temperature scaling">{before}{after}{axis}</svg>'
    )


def _class_panel(c, *, x0: float, y0: float) -> str:
    """One class's one-vs-rest panel, at (x0, y0) of the grid."""
    return _panel(
        c.bins,
        x0=x0,
        y0=y0,
        size=SMALL,
        title=c.name,
        note=f"ECE {c.ece:.3f} · {c.support} given",
        colour="#7c3aed",
    )


@register.simple_tag
def class_reliability_svg(classes, per_row=4):
    """One small one-vs-rest panel per class (after temperature scaling): of the test
    images whose probability of the class falls in a bin, the share given that class.
    classes: [queries.calibration.ClassReliability]."""
    grid = panel_grid(classes, _class_panel, per_row=per_row, cell=(SMALL + PAD + GAP, SMALL + 60))
    return grid.svg(
        "reliability-classes",
        "reliability per class, one versus the rest, after temperature scaling",
    )
