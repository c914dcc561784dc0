"""The image page's relabel: an optional reason a merchandiser types goes on the history
event and shows in the history list; without one the change is saved as before."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Annotation, Image, Label, LabelEvent
from curation.services.labels import REASON_MAX


@pytest.fixture
def image(imported):
    return Image.objects.get(source_path="img/0.png")


def _post(client, image, label: Label | None, note: str | None = None, **headers):
    data = {"attribute": "neckline", "label": label.pk if label else ""}
    if note is not None:
        data["note"] = note
    return client.post(reverse("curation:image_relabel", args=[image.pk]), data, headers=headers)


def _boat(imported) -> Label:
    return Label.objects.get(attribute__dataset=imported, attribute__name="neckline", name="boat")


def test_a_typed_reason_is_stored_on_the_event_and_shown_in_the_history(
    client, merchandiser, imported, image
):
    client.force_login(merchandiser)

    response = _post(client, image, _boat(imported), "  collar is wide  ", HX_Request="true")

    assert response.status_code == 200
    event = LabelEvent.objects.get(image=image, source="manual")
    assert (event.new_label_id, event.note) == (_boat(imported).pk, "collar is wide")
    html = response.content.decode()
    assert '<div class="muted">collar is wide</div>' in html
    assert f'maxlength="{REASON_MAX}"' in html and 'placeholder="reason (optional)"' in html
    page = client.get(image.get_absolute_url()).content.decode()
    assert "collar is wide" in page
    history = client.get(reverse("curation:dataset_history", args=[imported.name])).content.decode()
    assert "collar is wide" in history


def test_without_a_reason_the_change_is_saved_with_an_empty_note(
    client, merchandiser, imported, image
):
    client.force_login(merchandiser)

    response = _post(client, image, _boat(imported))

    assert response.status_code == 302
    event = LabelEvent.objects.get(image=image, source="manual")
    assert (event.new_label_id, event.note) == (_boat(imported).pk, "")


def test_a_reason_too_long_is_refused_and_nothing_is_written(client, merchandiser, imported, image):
    client.force_login(merchandiser)

    response = _post(client, image, _boat(imported), "x" * (REASON_MAX + 1), HX_Request="true")

    assert response.status_code == 422
    assert f"keep it to {REASON_MAX}" in response.content.decode()
    assert not LabelEvent.objects.filter(image=image, source="manual").exists()
    assert Annotation.objects.get(image=image, attribute__name="neckline").version == 1


def test_a_reason_without_a_change_says_nothing_was_saved_and_keeps_the_text(
    client, merchandiser, imported, image
):
    client.force_login(merchandiser)
    current = Annotation.objects.get(image=image, attribute__name="neckline").label

    response = _post(client, image, current, "looks right", HX_Request="true")

    assert response.status_code == 422
    html = response.content.decode()
    assert f"Nothing saved: neckline is already {current.name}" in html
    assert 'value="looks right"' in html
    assert not LabelEvent.objects.filter(image=image, source="manual").exists()
