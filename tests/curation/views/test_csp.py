"""Content-Security-Policy: every page sends one (django-csp) that allows scripts and styles
from this origin only, and no page's markup holds what it would refuse (style attributes,
on...= handlers, inline scripts). The image views keep their own, stricter policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from curation.models import Image
from tests.support.pages import STYLE_ATTRIBUTE, main_pages, refused_markup

pytestmark = pytest.mark.django_db

TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates", Path(settings.BASE_DIR) / "curation"]


def _directives(header: str) -> dict[str, list[str]]:
    parts = (p.split() for p in header.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


def test_every_main_page_sends_the_policy_and_no_markup_it_refuses(
    imported, client, data_scientist
):
    client.force_login(data_scientist)
    pages = main_pages(imported, actor=data_scientist)
    refused = {}
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, path, response.status_code)
        policy = _directives(response["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], name
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"], name
        found = refused_markup(response.content.decode())
        if found:
            refused[name] = found
    assert refused == {}


def test_htmx_fragments_carry_no_refused_markup_either(imported, client, data_scientist):
    client.force_login(data_scientist)
    pages = main_pages(imported, actor=data_scientist)
    for name in ("dataset page", "gallery", "review queue", "run page", "similarity"):
        response = client.get(pages[name], HTTP_HX_REQUEST="true")
        assert response.status_code == 200, name
        assert refused_markup(response.content.decode()) == [], name


def test_the_login_and_error_pages_send_the_policy(imported, client, viewer):
    login = client.get("/login/")
    assert "script-src 'self'" in login["Content-Security-Policy"]
    assert refused_markup(login.content.decode()) == []
    client.force_login(viewer)
    missing = client.get("/datasets/nope/")
    assert missing.status_code == 404 and "Content-Security-Policy" in missing


def test_the_image_file_keeps_its_own_stricter_policy(imported, client, viewer):
    client.force_login(viewer)
    image = Image.objects.filter(dataset=imported).first()
    for path in (f"/images/{image.pk}/file/", f"/images/{image.pk}/thumb/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Security-Policy"] == (
            "default-src 'none'; img-src 'self'; sandbox"
        ), path


def test_no_template_or_template_tag_writes_a_style_attribute_or_a_handler():
    """The pages above render only some branches of each template: the source is read too."""
    offenders = []
    for root in TEMPLATE_DIRS:
        for path in sorted(root.rglob("*")):
            if path.suffix not in {".html", ".py"} or "migrations" in path.parts:
                continue
            if path.suffix == ".py" and "templatetags" not in path.parts:
                continue
            text = path.read_text()
            found = [m.group(0) for m in STYLE_ATTRIBUTE.finditer(text)]
            if path.suffix == ".html":
                found += refused_markup(text)
            if found:
                offenders.append((str(path.relative_to(settings.BASE_DIR)), found[:3]))
    assert offenders == []
