"""The block tags that write a page's repeated HTML once: {% table %} and {% polling %}."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError


def render(source: str, **context) -> str:
    return Template("{% load curation_tags %}" + source).render(Context(context))


def test_a_table_has_its_head_its_attributes_and_its_rows_in_the_body():
    html = render(
        '{% table "Label" "num:F1" "Order"|when:manager id="per-class" %}<tr><td>x</td></tr>'
        "{% endtable %}",
        manager=False,
    )

    assert html == (
        '<table id="per-class"><thead><tr><th>Label</th><th class="num">F1</th></tr></thead>'
        "<tbody><tr><td>x</td></tr></tbody></table>"
    )


def test_a_table_refuses_a_column_after_its_attributes():
    with pytest.raises(TemplateSyntaxError):
        render('{% table "Label" id="x" "F1" %}{% endtable %}')


@pytest.mark.parametrize(
    ("status", "polls"), [("queued", True), ("running", True), ("succeeded", False)]
)
def test_a_panel_polls_its_url_only_while_its_job_is_active(status, polls):
    html = render(
        '{% polling "section" url when=status|active every="1s" id="progress" class="card" %}'
        "<p>{{ status }}</p>{% endpolling %}",
        url="/imports/1/?a=1&b=2",
        status=status,
    )

    hx = ' hx-get="/imports/1/?a=1&amp;b=2" hx-trigger="every 1s"'
    hx += ' hx-target="this" hx-swap="outerHTML"'
    attrs = ' id="progress" class="card"' + (hx if polls else "")
    assert html == f"<section{attrs}><p>{status}</p></section>"
