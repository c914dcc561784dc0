"""The run page's reliability diagram: an inline SVG, drawn here, no chart library."""

from __future__ import annotations

from django import template
from django.utils.html import escape, mark_safe

register = template.Library()

SIZE = 220  # the plot's side in SVG units
PAD = 30  # room for the axis ticks
GAP = 20  # between the two panels


def _bar(b, *, left: float, top: float, colour: str) -> str:
    """One non-empty bin: a bar at its accuracy, a tick at its mean confidence, its count
    under the axis."""
    x, w = left + b.low * SIZE + 0.5, (b.high - b.low) * SIZE - 1
    y_acc, y_conf = top + (1 - b.accuracy) * SIZE, top + (1 - b.confidence) * SIZE
    row = round(b.low / (b.high - b.low)) % 2  # neighbours' counts on two lines: no overlap
    y_count = top + SIZE + 9 + 8 * row
    about = (
        f"{b.low:.2f}–{b.high:.2f}: {b.count} images, accuracy {b.accuracy:.3f}, "
        f"mean confidence {b.confidence:.3f}"
    )
    return (
        f"<g><title>{about}</title>"
        f'<rect fill="{colour}" x="{x:.1f}" y="{y_acc:.1f}" width="{w:.1f}" '
        f'height="{b.accuracy * SIZE:.1f}"/>'
        f'<line stroke="#111827" stroke-width="1.5" x1="{x:.1f}" x2="{x + w:.1f}" '
        f'y1="{y_conf:.1f}" y2="{y_conf:.1f}"/>'
        f'<text class="tick" style="font-size:8px" x="{x + w / 2:.1f}" y="{y_count}" '
        f'text-anchor="middle">{b.count}</text></g>'
    )


def _panel(bins, *, x0: float, title: str, colour: str) -> str:
    """One panel: the bins' bars, the frame and the diagonal (perfect calibration)."""
    top, left = 18, x0 + PAD
    bottom, right = top + SIZE, left + SIZE
    return (
        f'<text class="tick" x="{left}" y="12">{escape(title)}</text>'
        f'<rect fill="none" stroke="#d1d5db" x="{left}" y="{top}" width="{SIZE}" '
        f'height="{SIZE}"/>'
        f'<line stroke="#6b7280" stroke-dasharray="4 3" x1="{left}" y1="{bottom}" '
        f'x2="{right}" y2="{top}"/>'
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">1</text>'
        f'<text class="tick" x="{left - 4}" y="{bottom}" text-anchor="end">0</text>'
        f'<text class="tick" x="{right}" y="{bottom + 30}" text-anchor="end">'
        "confidence 1 (numbers: images per bin)</text>"
        + "".join(_bar(b, left=left, top=top, colour=colour) for b in bins if b.count)
    )


@register.simple_tag
def reliability_svg(calibration):
    """Before and after temperature scaling, side by side, on the test split: accuracy per
    confidence bin against the diagonal. calibration: mlcore.eval.calibration.Calibration."""
    if calibration is None or not calibration.test_count:
        return mark_safe('<p class="muted">No test predictions to draw.</p>')
    width = 2 * (SIZE + PAD) + GAP
    before = _panel(calibration.bins_before, x0=0, title="before (raw)", colour="#cbd5e1")
    after = _panel(
        calibration.bins_after,
        x0=SIZE + PAD + GAP,
        title=f"after (T = {calibration.temperature:.3f})",
        colour="#7c3aed",
    )
    return mark_safe(
        f'<svg class="chart reliability" viewBox="0 0 {width} {SIZE + 54}" role="img" '
        'aria-label="reliability diagram: accuracy by confidence, before and after '
        f'temperature scaling">{before}{after}</svg>'
    )
