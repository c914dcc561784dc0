"""The embedding map: a layout built from the similarity vectors or a run's probabilities,
the points payload, density bins above POINTS_MAX, and a lasso saved as a selection."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from curation.models import EmbeddingMap, MapSelection
from curation.queries import embedding_maps
from curation.queries.embedding_maps import read_layout
from curation.services.embedding_maps import start_embedding_map
from mlcore.eval.embedding_map import density_bins, inside_polygon
from tests.support.maps import planted_index
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db
MAP = "/datasets/dresses/map/"


def _build(dataset, actor, django_capture_on_commit_callbacks, **kw) -> EmbeddingMap:
    with django_capture_on_commit_callbacks(execute=True):
        row = start_embedding_map(dataset=dataset, actor=actor, **kw)
    row.refresh_from_db()
    assert row.status == "ready", row.error
    return row


def _box(points: np.ndarray, pad: float = 0.05) -> list[list[float]]:
    lo, hi = points.min(0) - pad, points.max(0) + pad
    return [[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]]


def test_an_empty_dataset_says_how_to_get_a_map(client, viewer, imported):
    client.force_login(viewer)
    html = client.get(MAP).content.decode()
    assert "No embeddings yet: build the similarity index" in html
    assert "run a classifier" in html


def test_a_lasso_around_a_cluster_selects_exactly_it(
    client, data_scientist, imported, django_capture_on_commit_callbacks
):
    first, second = planted_index(imported)
    emap = _build(imported, data_scientist, django_capture_on_commit_callbacks, source="similarity")
    assert (emap.count, emap.method) == (6, "pca")
    layout = read_layout(emap)
    assert layout.xy.dtype == np.float16 and list(layout.ids) == sorted(first + second)
    xy = layout.xy.astype(np.float64)
    polygon = _box(xy[np.isin(layout.ids, first)])

    client.force_login(data_scientist)
    response = client.post(
        f"{MAP}{emap.pk}/lasso/", json.dumps({"polygon": polygon}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    selection = MapSelection.objects.get(pk=body["selection"])
    assert selection.image_ids == first and body["count"] == 3
    html = client.get(body["url"]).content.decode()
    assert all(f'id="tile-{i}"' in html for i in first)
    assert not any(f'id="tile-{i}"' in html for i in second)


@pytest.mark.parametrize(
    "body", ["not json", json.dumps({"polygon": [[0, 0], [1, 1]]}), json.dumps({"polygon": "x"})]
)
def test_a_bad_lasso_is_a_400(
    client, data_scientist, imported, django_capture_on_commit_callbacks, body
):
    planted_index(imported)
    emap = _build(imported, data_scientist, django_capture_on_commit_callbacks, source="similarity")
    client.force_login(data_scientist)
    response = client.post(f"{MAP}{emap.pk}/lasso/", body, content_type="application/json")
    assert response.status_code == 400
    assert "polygon" in response.content.decode()


def test_points_are_coloured_by_label_prediction_and_correctness(
    client, viewer, data_scientist, imported, django_capture_on_commit_callbacks
):
    neckline = imported.attributes.get(name="neckline")
    run = finished_run(neckline, wrong={int(imported.images.order_by("id").first().pk)})
    emap = _build(
        imported, data_scientist, django_capture_on_commit_callbacks, source="classifier", run=run
    )
    client.force_login(viewer)
    body = client.get(f"{MAP}{emap.pk}/points/?attribute=neckline&colour=correctness").json()
    assert body["mode"] == "points" and body["legend"] == ["right", "wrong", "not scored"]
    codes = np.frombuffer(base64.b64decode(body["c"]), np.uint8)
    assert sorted(codes.tolist()) == [0, 0, 0, 0, 0, 1]
    x = np.frombuffer(base64.b64decode(body["x"]), "<u2")
    assert x.shape == (6,) and x.min() >= 0
    label = client.get(f"{MAP}{emap.pk}/points/?attribute=neckline&colour=label").json()
    assert label["legend"][-1] == "no label" and len(label["legend"]) == 4
    assert client.get(f"{MAP}{emap.pk}/points/?colour=rainbow").status_code == 400


def test_large_maps_come_as_density_bins(
    client, viewer, imported, monkeypatch, data_scientist, django_capture_on_commit_callbacks
):
    planted_index(imported)
    emap = _build(imported, data_scientist, django_capture_on_commit_callbacks, source="similarity")
    monkeypatch.setattr(embedding_maps, "POINTS_MAX", 3)
    client.force_login(viewer)
    body = client.get(f"{MAP}{emap.pk}/points/?attribute=neckline").json()
    assert body["mode"] == "bins"
    counts = np.frombuffer(base64.b64decode(body["counts"]), "<u4")
    assert counts.shape == (body["grid"] ** 2,) and counts.sum() == 6


def test_density_bins_and_polygons_on_arrays():
    unit = np.array([[0.1, 0.1], [0.12, 0.1], [0.9, 0.9]])
    counts, top = density_bins(unit, np.array([1, 1, 0]), grid=4, colours=2)
    assert counts[0, 0] == 2 and top[0, 0] == 1 and counts[3, 3] == 1 and counts.sum() == 3
    square = np.array([[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]], float)
    assert inside_polygon(unit, square).tolist() == [True, True, False]


def test_a_viewer_cannot_build_a_map(client, viewer, imported):
    planted_index(imported)
    client.force_login(viewer)
    assert client.post(f"{MAP}build/", {"source": "similarity"}).status_code == 403
    assert not EmbeddingMap.objects.exists()
