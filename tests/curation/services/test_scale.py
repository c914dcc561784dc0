"""seed_scale: a synthetic catalog whose rows hang together (the pages and the load
benchmarks stand on it)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from curation.models import (
    Annotation,
    Dataset,
    Image,
    LabelEvent,
    Product,
    ReviewItem,
    RunImage,
    TrainingRun,
)


@pytest.mark.django_db(transaction=True)
def test_seed_scale_writes_a_consistent_catalog(client, viewer):
    call_command("seed_scale", "--images", "800", "--dataset", "scale-t")
    dataset = Dataset.objects.get(name="scale-t")
    assert Image.objects.filter(dataset=dataset).count() == 800
    assert Product.objects.filter(dataset=dataset).count() == 200
    # Every image shares its product's split (the database would refuse otherwise).
    assert (
        not Image.objects.filter(dataset=dataset).exclude(split=models_F("product__split")).exists()
    )
    assert Annotation.objects.filter(image__dataset=dataset).count() == 1600
    imports = LabelEvent.objects.filter(image__dataset=dataset, source="import").count()
    assert (
        imports == 1600
        and LabelEvent.objects.filter(image__dataset=dataset, source="manual").exists()
    )
    run = TrainingRun.objects.get(dataset=dataset)
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == 800
    assert not rows.exclude(split=models_F("image__split")).exists()
    wrong = rows.exclude(predicted_label=models_F("given_label"))
    assert set(wrong.values_list("is_error", flat=True)) == {True}
    total = sum(sum(map(sum, s["confusion"])) for s in run.aggregates["splits"].values())
    assert total == 800
    assert ReviewItem.objects.filter(run=run).exists()
    # New rows after the COPY get fresh ids (sequences were moved on).
    assert Product.objects.create(dataset=dataset, key="new", split="train").pk > 200
    client.force_login(viewer)
    page = client.get(reverse("curation:quality", args=["scale-t", "neckline"]))
    assert page.status_code == 200
    assert f"<strong>{run.test_count}</strong> test images" in page.content.decode()
    with pytest.raises(CommandError, match="exists already"):
        call_command("seed_scale", "--images", "800", "--dataset", "scale-t")


def models_F(name):
    from django.db.models import F

    return F(name)
