"""The review order through the API: every scored image in order, the flagged set as a
filter, the label version on each row, and a fix that says which run flagged it."""

from __future__ import annotations

import pytest

from curation.models import Annotation, LabelEvent, RunImage
from tests.support.api import api_client
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def ranked(imported, data_scientist):
    """A finished run whose rows all have a review rank; every third one flagged."""
    run = finished_run(imported.attributes.get(name="neckline"), actor=data_scientist)
    rows = list(RunImage.objects.filter(run=run).order_by("quality", "id"))
    flagged = 0
    for position, row in enumerate(rows, start=1):
        row.review_rank = position
        row.suspect_rank = None
        if position % 3 == 1:
            flagged += 1
            row.suspect_rank = flagged
    RunImage.objects.bulk_update(rows, ["review_rank", "suspect_rank"])
    return run, rows


def test_suspects_list_every_scored_image_in_review_order_with_its_label_version(ranked, viewer):
    run, rows = ranked
    body = api_client(viewer).get(f"/api/runs/{run.pk}/suspects/", {"page_size": 500}).json()
    got = body["results"]
    assert [r["review_rank"] for r in got] == list(range(1, len(rows) + 1))
    assert [r["flagged"] for r in got] == [r.suspect_rank is not None for r in rows]
    versions = dict(
        Annotation.objects.filter(attribute=run.attribute).values_list("image_id", "version")
    )
    assert all(r["label_version"] == versions[r["image_id"]] for r in got)


def test_the_flagged_set_and_a_split_are_filters(ranked, viewer):
    run, rows = ranked
    client = api_client(viewer)
    flagged = client.get(f"/api/runs/{run.pk}/suspects/", {"flagged": "true"}).json()["results"]
    assert [r["suspect_rank"] for r in flagged] == list(range(1, len(flagged) + 1))
    rest = client.get(f"/api/runs/{run.pk}/suspects/", {"flagged": "false", "page_size": 500})
    assert len(flagged) + len(rest.json()["results"]) == len(rows)
    test_only = client.get(f"/api/runs/{run.pk}/suspects/", {"split": "test"}).json()
    assert test_only["results"] and {r["split"] for r in test_only["results"]} == {"test"}
    bad = client.get(f"/api/runs/{run.pk}/suspects/", {"flagged": "maybe"})
    assert bad.status_code == 400 and "flagged" in bad.json()


def test_one_patch_fixes_a_row_and_the_history_names_the_run(ranked, merchandiser):
    run, _ = ranked
    client = api_client(merchandiser)
    row = client.get(f"/api/runs/{run.pk}/suspects/").json()["results"][0]
    other = next(n for n in run.label_names if n != row["given_label"])
    response = client.patch(
        f"/api/images/{row['image_id']}/labels/",
        {"attribute": "neckline", "label": other, "flagged_by_run": run.pk, "note": "collar"},
        format="json",
        HTTP_IF_MATCH=f'"{row["label_version"]}"',
    )
    assert response.status_code == 200, response.json()
    event = LabelEvent.objects.filter(image_id=row["image_id"]).latest("id")
    assert (event.flagged_by_run_id, event.note, event.new_label.name) == (run.pk, "collar", other)


def test_a_fix_naming_an_unknown_run_is_refused(ranked, merchandiser):
    run, _ = ranked
    client = api_client(merchandiser)
    row = client.get(f"/api/runs/{run.pk}/suspects/").json()["results"][0]
    response = client.patch(
        f"/api/images/{row['image_id']}/labels/",
        {"attribute": "neckline", "label": row["given_label"], "flagged_by_run": run.pk + 99},
        format="json",
        HTTP_IF_MATCH=f'"{row["label_version"]}"',
    )
    assert response.status_code == 400
    assert f"#{run.pk + 99}" in str(response.json()["flagged_by_run"])
    assert not LabelEvent.objects.filter(image_id=row["image_id"], flagged_by_run_id=run.pk + 99)
