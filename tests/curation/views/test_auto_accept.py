"""The auto-accept page: target form (data scientists; bad input is a 400 naming the field),
the per-class preview everyone with a role sees, Apply with confirmation, the undo banner."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from curation.models import Annotation, LabelEvent, LabelSource, PromotedModel
from curation.services.auto_accept import set_auto_accept_target
from tests.support.auto_accept import scored_shop

pytestmark = pytest.mark.django_db

ARRIVALS = {"sure": [("round", 0.95)] * 5, "unsure": [("round", 0.85)] * 3}


@pytest.fixture
def shop(data_scientist):
    shop = scored_shop(arrivals=ARRIVALS)
    set_auto_accept_target(attribute=shop.attribute, target=0.9, actor=data_scientist)
    return shop


def _url(name="auto_accept"):
    return reverse(f"curation:{name}", args=["shop", "neckline"])


def _text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _fingerprint(response) -> str:
    return re.search(r'name="plan" value="([0-9a-f]+)"', response.content.decode()).group(1)


def test_data_scientist_sees_the_preview_and_the_apply_form(client, shop, data_scientist):
    client.force_login(data_scientist)
    response = client.get(_url())
    assert response.status_code == 200
    text = _text(response)
    assert "round 0.900 300 1.000 (0.990) 5 0.0 [0–0] of 5" in text
    assert "v-neck no threshold meets the target" in text
    assert "5 of 8" in text
    assert 'href="/datasets/shop/attributes/neckline/arrivals/"' in response.content.decode()
    assert 'name="target"' in response.content.decode() and "Apply auto-accept" in text


@pytest.mark.parametrize("role", ["viewer", "merchandiser"])
def test_viewers_and_merchandisers_see_the_preview_read_only(client, shop, role, request):
    client.force_login(request.getfixturevalue(role))
    response = client.get(_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "0.900" in html and 'name="target"' not in html and "Apply auto-accept" not in html
    assert "Data scientists set the target" in html
    assert client.post(_url(), {"target": "0.95"}).status_code == 403
    assert client.post(_url("auto_accept_apply"), {"confirm": "yes"}).status_code == 403
    shop.attribute.refresh_from_db()
    assert shop.attribute.auto_accept_target == 0.9


def test_an_outsider_gets_403(client, shop, outsider):
    client.force_login(outsider)
    assert client.get(_url()).status_code == 403


@pytest.mark.parametrize(
    ("raw", "words"),
    [("98", "outside 0.5–0.999"), ("0.2", "outside"), ("ninety", "not a number")],
)
def test_a_bad_target_is_a_400_naming_the_field(client, shop, data_scientist, raw, words):
    client.force_login(data_scientist)
    response = client.post(_url(), {"target": raw})
    assert response.status_code == 400
    text = _text(response)
    assert "target:" in text and words in text
    assert f'value="{raw}"' in response.content.decode()  # what they typed stays in the field
    shop.attribute.refresh_from_db()
    assert shop.attribute.auto_accept_target == 0.9


def test_saving_and_clearing_the_target(client, shop, data_scientist):
    client.force_login(data_scientist)
    assert client.post(_url(), {"target": "0.95"}).status_code == 302
    shop.attribute.refresh_from_db()
    assert shop.attribute.auto_accept_target == 0.95
    client.post(_url(), {"target": ""})
    shop.attribute.refresh_from_db()
    assert shop.attribute.auto_accept_target is None
    assert "No target precision is set" in _text(client.get(_url()))


def test_apply_needs_the_confirmation(client, shop, data_scientist):
    client.force_login(data_scientist)
    plan = _fingerprint(client.get(_url()))
    response = client.post(_url("auto_accept_apply"), {"plan": plan})
    assert response.status_code == 400 and "confirm:" in _text(response)
    assert not LabelEvent.objects.exists()


def test_apply_then_undo_from_the_banner(client, shop, data_scientist):
    client.force_login(data_scientist)
    plan = _fingerprint(client.get(_url()))
    response = client.post(_url("auto_accept_apply"), {"plan": plan, "confirm": "yes"})
    assert response.status_code == 302 and "?batch=" in response.url
    batch = response.url.split("?batch=")[1]
    assert LabelEvent.objects.filter(batch=batch, source=LabelSource.AUTO).count() == 5
    page = client.get(response.url)
    text = _text(page)
    assert "Auto-accepted 5 tag(s): 5 round." in text
    assert "5 automatic tags written in batch" in text
    revert = reverse("curation:batch_revert", args=[batch])
    assert f'action="{revert}"' in page.content.decode()
    client.post(revert)
    assert (
        not Annotation.objects.filter(image_id__in=shop.arrivals["sure"])
        .exclude(label=None)
        .exists()
    )
    assert "has been reverted" in _text(client.get(response.url))


def test_a_stale_preview_is_not_applied(client, shop, data_scientist):
    client.force_login(data_scientist)
    plan = _fingerprint(client.get(_url()))
    set_auto_accept_target(attribute=shop.attribute, target=0.95, actor=data_scientist)
    response = client.post(_url("auto_accept_apply"), {"plan": plan, "confirm": "yes"})
    assert response.status_code == 302 and "?batch=" not in response.url
    assert not LabelEvent.objects.exists()
    assert "The preview changed" in _text(client.get(response.url))


def test_empty_state_without_a_promoted_model(client, shop, data_scientist):
    PromotedModel.objects.all().delete()
    client.force_login(data_scientist)
    response = client.get(_url())
    assert response.status_code == 200
    assert "no promoted model yet" in _text(response)
    assert "Apply auto-accept" not in _text(response)


def test_unknown_attribute_is_a_404(client, shop, data_scientist):
    client.force_login(data_scientist)
    response = client.get(reverse("curation:auto_accept", args=["shop", "sleeve"]))
    assert response.status_code == 404
