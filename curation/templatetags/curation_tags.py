import re

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """{{ mapping|get_item:key }} for dicts keyed by ids."""
    return mapping.get(key) if mapping else None


@register.filter
def roles(user) -> list[str]:
    """{{ user|roles }}: the user's role names, sorted, from the per-request (and shared-
    cache) user facts that permission checks already loaded, not another query."""
    from curation.auth_cache import user_facts

    if not getattr(user, "is_authenticated", False):
        return []
    return sorted(user_facts(user)["roles"])


def _scale(values, lo, hi, out_lo, out_hi):
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


@register.simple_tag
def loss_curve_svg(curve, width=520, height=180):
    """A server-side SVG line chart of [[epoch, loss], ...]."""
    from django.utils.html import mark_safe

    if not curve or len(curve) < 2:
        return mark_safe('<p class="muted">The loss curve appears after the first steps.</p>')
    pad = 34
    xs = [p[0] for p in curve]
    ys = [p[1] for p in curve]
    y_max = max(ys) * 1.05
    px = _scale(xs, 0, max(xs), pad, width - 8)
    py = _scale(ys, 0, y_max, height - 22, 8)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(px, py, strict=True))
    ticks = []
    for frac in (0, 0.5, 1):
        value = y_max * frac
        y = _scale([value], 0, y_max, height - 22, 8)[0]
        ticks.append(
            f'<text x="{pad - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value:.2f}</text>'
            f'<line x1="{pad}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
    epochs = max(xs)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="training loss by epoch">'
        + "".join(ticks)
        + f'<polyline points="{points}" class="line"/>'
        f'<text x="{width - 8}" y="{height - 6}" text-anchor="end" class="tick">'
        f"epoch {epochs:.2f}</text>"
        f'<text x="{pad}" y="{height - 6}" class="tick">0</text></svg>'
    )


@register.simple_tag
def f1_bars_svg(per_class, width=520):
    """Horizontal bars of per-class F1 (with precision and recall as thin bars)."""
    from django.utils.html import escape, mark_safe

    if not per_class:
        return ""
    row, label_w = 26, 130
    height = row * len(per_class) + 10
    bar_w = width - label_w - 50
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="F1 per class">'
    ]
    for i, c in enumerate(per_class):
        y = 5 + i * row
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="tick">'
            f"{escape(c['name'])}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" '
            f'width="{bar_w * c["f1"]:.1f}" height="12" class="f1"/>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 16}" '
            f'width="{bar_w * c["precision"]:.1f}" height="3" class="prec"/>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 20}" '
            f'width="{bar_w * c["recall"]:.1f}" height="3" class="rec"/>'
        )
        parts.append(
            f'<text x="{label_w + bar_w * c["f1"] + 4:.1f}" y="{y + 13}" class="tick">'
            f"{c['f1']:.3f}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


@register.filter
def heat(count, row_total):
    """Classes for a confusion-matrix cell: its share of the row as a purple tint in 5% steps
    (heat-0 … heat-20, static/css/app.css), white text past half. Classes, not a style
    attribute: the Content-Security-Policy refuses inline styles."""
    share = (count / row_total) if row_total else 0
    step = max(0, min(20, round(share * 20)))
    return f"heat-{step} heat-dark" if share > 0.5 else f"heat-{step}"


@register.filter
def percent(value, places=1) -> str:
    """0.2437 -> '24.4%' (a share as a percentage); '' for a missing value."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.{int(places)}f}%"


@register.filter
def duration(seconds):
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


@register.filter
def eta(progress):
    """A running run's ETA from its progress: the worker's plan of the whole job
    (services/runs/worker.py), or "measuring" before it has a pace."""
    seconds = (progress or {}).get("eta_s")
    if seconds is None:
        return "ETA: measuring the pace…"
    return f"ETA {duration(seconds)}"


@register.filter
def confusion_rows(metrics):
    """[(label, [(count, row_total), ...], row_total)] from a metrics dict."""
    if not metrics or "confusion" not in metrics:
        return []
    names = metrics["label_names"]
    rows = []
    for name, counts in zip(names, metrics["confusion"], strict=True):
        total = sum(counts)
        rows.append((name, [(c, total) for c in counts], total))
    return rows


@register.filter
def equals(value, other) -> bool:
    """value == other, for an include's `with` (e.g. selected=a.name|equals:query.differs_in)."""
    return value == other


@register.filter
def signed(value, places=4) -> str:
    """A change with its sign (+0.0123, -0.0040) at `places` decimals; "—" for none.
    Django's floatformat has no sign option ("+4" reads as 4)."""
    if value is None:
        return "—"
    return f"{float(value):+.{int(places)}f}"


@register.filter
def direction(change) -> str:
    """The class of a change by its sign: "up" (none or more, green) or "down" (red)."""
    return "up" if change is not None and change >= 0 else "down"


@register.filter
def when(value, condition):
    """value if condition, else None: `"Order"|when:perms.x` is a `table` column only
    for those who see that column's cells."""
    return value if condition else None


def _header_cell(column: str):
    from django.utils.html import format_html

    css, colon, text = column.partition(":")
    if not colon:
        return format_html("<th>{}</th>", column)
    return format_html('<th class="{}">{}</th>', css, text)


def _attributes(attrs: dict) -> str:
    """' id="x" class="card"': an opening tag's attributes, escaped, in the order given."""
    from django.utils.html import format_html_join

    return format_html_join("", ' {}="{}"', attrs.items())


class TableNode(template.Node):
    def __init__(self, columns, attrs, nodelist):
        self.columns, self.attrs, self.nodelist = columns, attrs, nodelist

    def render(self, context):
        from django.utils.html import format_html, format_html_join

        columns = [c.resolve(context) for c in self.columns]
        cells = format_html_join("", "{}", ((_header_cell(c),) for c in columns if c is not None))
        attrs = {name: value.resolve(context) for name, value in self.attrs.items()}
        return format_html(
            "<table{}><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            _attributes(attrs),
            cells,
            self.nodelist.render(context),
        )


@register.tag
def table(parser, token):
    """{% table "Label" "num:Precision" "w25:Change (bar)" id="per-class" %} rows
    {% endtable %}: a <table> whose <thead> has one <th> a column and whose <tbody> holds the
    rows between the tags; keyword arguments are the table's attributes. "css:Text" gives
    the column's heading that class (num: a right-aligned number, w25 / w30: a quarter / 30%
    of the width); "" is a column without a heading; None (see `when`) is no column at all."""
    from django.template.base import token_kwargs

    bits = token.split_contents()[1:]
    first_keyword = next((i for i, bit in enumerate(bits) if re.match(r"\w+=", bit)), len(bits))
    columns = [parser.compile_filter(bit) for bit in bits[:first_keyword]]
    rest = bits[first_keyword:]
    attrs = token_kwargs(rest, parser)
    if rest:
        raise template.TemplateSyntaxError(f"table: columns first, then attributes: {rest}")
    nodelist = parser.parse(("endtable",))
    parser.delete_first_token()
    return TableNode(columns, attrs, nodelist)


def _page_attr(page, name):
    """A page's attribute, read as a template would: a Django Page has methods
    (has_next()), the read side's pages have properties."""
    value = getattr(page, name)
    return value() if callable(value) else value


@register.inclusion_tag("curation/partials/_pager.html")
def pager(page, param="page", *, keep="", hx="", target="", anchor="", **query):
    """{% pager page "qpage" run=run.pk %}: "Page n of m" with links to the pages beside it.

    param: the page's query parameter; keep: the rest of the query, encoded (else the keyword
    arguments left, encoded here); target: the element an HTMX request for the page swaps,
    hx: the URL that answers it (else this page's own); anchor: a #fragment for the plain link.
    A Django Page or a read-side page (number, num_pages, has_next, next_page_number, ...)."""
    from urllib.parse import urlencode

    if not page:  # no page to show (an empty list): no pager, as {% if page.has_other_pages %}
        return {"links": []}
    rest = keep or urlencode(query)
    num_pages = getattr(page, "paginator", page).num_pages
    links = []
    for text, has, number in (
        ("previous", "has_previous", "previous_page_number"),
        ("next", "has_next", "next_page_number"),
    ):
        if not _page_attr(page, has):
            continue
        to = urlencode({param: _page_attr(page, number)})
        to = f"?{rest}&{to}" if rest else f"?{to}"
        links.append({"text": text, "href": to + anchor, "hx_get": hx + to if target else ""})
    return {"number": page.number, "num_pages": num_pages, "links": links, "target": target}


@register.filter
def active(status) -> bool:
    """A job's status while it is queued or running (the models' ACTIVE): what its page polls
    for and what Cancel is offered in."""
    return status in ("queued", "running")


class PollingNode(template.Node):
    def __init__(self, element, url, when, every, attrs, nodelist):
        self.element, self.url, self.when, self.every = element, url, when, every
        self.attrs, self.nodelist = attrs, nodelist

    def render(self, context):
        from django.utils.html import format_html

        attrs = {name: value.resolve(context) for name, value in self.attrs.items()}
        if self.when.resolve(context):
            attrs["hx-get"] = self.url.resolve(context)
            attrs["hx-trigger"] = f"every {self.every.resolve(context)}"
            attrs["hx-target"] = "this"
            attrs["hx-swap"] = "outerHTML"
        element = self.element.resolve(context)
        return format_html(
            "<{}{}>{}</{}>", element, _attributes(attrs), self.nodelist.render(context), element
        )


@register.tag
def polling(parser, token):
    """{% polling "section" url when=panel.active every="2s" id="x" class="card" %} …
    {% endpolling %}: the element with the attributes after `every`, which, while `when`
    holds, fetches `url` every 2s and swaps itself for the answer: a job's panel follows the
    job until it ends, then stops (the last answer renders it without the hx- attributes)."""
    from django.template.base import token_kwargs

    bits = token.split_contents()
    name, rest = bits[0], bits[3:]
    if len(bits) < 3:
        raise template.TemplateSyntaxError(f"{name} takes an element, a URL and when=, every=")
    kwargs = token_kwargs(rest, parser)
    if rest or "when" not in kwargs or "every" not in kwargs:
        raise template.TemplateSyntaxError(f"{name}: after the URL, when=, every= and attributes")
    when, every = kwargs.pop("when"), kwargs.pop("every")
    nodelist = parser.parse(("endpolling",))
    parser.delete_first_token()
    element, url = parser.compile_filter(bits[1]), parser.compile_filter(bits[2])
    return PollingNode(element, url, when, every, kwargs, nodelist)
