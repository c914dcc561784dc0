"""The dataset page's counters (LabelTally, SplitTally) stay equal to a real count through
every write path: import, relabel, bulk update, quarantine, split move, deletion."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import Annotation, Dataset, Image, LabelTally, Product, SplitTally
from curation.services.labels import relabel_image


def _counted(dataset_id: int) -> tuple[Counter, Counter]:
    labels = Counter(
        (a.attribute_id, a.label_id or 0, a.image.split)
        for a in Annotation.objects.filter(
            image__dataset_id=dataset_id, image__status="ok"
        ).select_related("image")
    )
    splits = Counter(
        Image.objects.filter(dataset_id=dataset_id, status="ok").values_list("split", flat=True)
    )
    return labels, splits


def _tallied(dataset_id: int) -> tuple[Counter, Counter]:
    labels = Counter(
        {
            (t.attribute_id, t.label_key, t.split): t.n
            for t in LabelTally.objects.filter(attribute__dataset_id=dataset_id)
            if t.n
        }
    )
    splits = Counter(
        {t.split: t.n for t in SplitTally.objects.filter(dataset_id=dataset_id) if t.n}
    )
    return labels, splits


def _assert_in_step(dataset_id: int) -> None:
    assert _tallied(dataset_id) == _counted(dataset_id)


def test_tallies_follow_imports_relabels_and_bulk_updates(imported, merchandiser):
    _assert_in_step(imported.pk)
    neckline = imported.attributes.get(name="neckline")
    image = Image.objects.filter(dataset=imported).first()
    for name in ("boat", "round", "boat"):
        relabel_image(
            image=image,
            attribute=neckline,
            label=neckline.labels.get(name=name),
            actor=merchandiser,
        )
    relabel_image(image=image, attribute=neckline, label=None, actor=merchandiser)
    _assert_in_step(imported.pk)
    Annotation.objects.filter(attribute=neckline).update(label=neckline.labels.get(name="v-neck"))
    _assert_in_step(imported.pk)


def test_tallies_follow_quarantine_and_an_audited_split_move(imported):
    image = Image.objects.filter(dataset=imported, split="train").first()
    Image.objects.filter(pk=image.pk).update(status="quarantined")
    _assert_in_step(imported.pk)
    Image.objects.filter(pk=image.pk).update(status="ok")
    _assert_in_step(imported.pk)
    call_command(
        "move_split",
        dataset="dresses",
        product="sku-0",
        to="test",
        reason="taxonomy change",
        actor="tester",
    )
    assert Image.objects.filter(product__key="sku-0", split="test").exists()
    _assert_in_step(imported.pk)


def test_tallies_go_with_a_deleted_image_or_dataset(imported):
    Image.objects.filter(dataset=imported).first().delete()
    _assert_in_step(imported.pk)
    # A dataset whose images carry no labels history can be deleted; its counters go too.
    other = Dataset.objects.create(name="scratch")
    product = Product.objects.create(dataset=other, key="p", split="train")
    Image.objects.create(
        dataset=other, product=product, split="train", source_path="a.png", sha256="0" * 64
    )
    assert SplitTally.objects.get(dataset=other).n == 1
    other.delete()
    assert not SplitTally.objects.filter(dataset_id=other.pk).exists()


def test_the_dataset_page_shows_tallied_counts(client, viewer, imported):
    client.force_login(viewer)
    page = client.get(imported.get_absolute_url())
    assert page.context["splits"] == {"train": 4, "test": 2}
    rows = page.context["counts"][imported.attributes.get(name="neckline").pk]
    assert {r.label.name: (r.train, r.test) for r in rows} == {
        "round": (2, 0),
        "v-neck": (1, 1),
        "boat": (1, 1),
    }


def test_the_dataset_list_counts_from_tallies_not_the_catalog(client, viewer, imported):
    Image.objects.filter(pk=Image.objects.filter(dataset=imported).first().pk).update(
        status="quarantined"
    )
    Dataset.objects.create(name="empty-one")
    client.force_login(viewer)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/")
    shown = {d.name: (d.n_ok, d.n_quarantined) for d in page.context["datasets"]}
    assert shown == {"dresses": (5, 1), "empty-one": (0, 0)}
    # Usable images come from SplitTally; only the (few) quarantined ones are counted.
    listing = next(q["sql"] for q in queries.captured_queries if "curation_dataset" in q["sql"])
    assert "curation_splittally" in listing
    assert "'ok'" not in listing and "= ok" not in listing


@pytest.mark.django_db(transaction=True)
def test_seeded_rows_by_copy_are_tallied_too():
    call_command("seed_scale", "--images", "200", "--dataset", "scale-tally")
    _assert_in_step(Dataset.objects.get(name="scale-tally").pk)


@pytest.mark.django_db
def test_on_postgresql_the_counters_are_kept_once_per_statement():
    """Per-row triggers made a COPY of n rows cost O(n²) (each upsert walked the counter
    row's earlier versions); the statement triggers must be the only tally triggers left."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("runs in make test's PostgreSQL pass (SQLite keeps per-row triggers)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s",
            ["%tally%"],
        )
        found = dict(cursor.fetchall())
    per_row = sorted(name for name, row in found.items() if row and "cleanup" not in name)
    assert per_row == [] and len(found) == 8, found
