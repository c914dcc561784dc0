"""The Explore filters on a small seeded catalog: each narrows to the right images, they
combine, bad values are a BadParameter naming the parameter, and search is exact or prefix."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from curation.models import Attribute, Image, ImageScore, ImageStatus, Label, RunImage
from curation.params import BadParameter
from curation.queries import catalog
from curation.queries.explore import ExploreFilter, explore_images
from curation.services.runs.control import promote_training_run
from curation.services.tags import tag_images
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db


def _paths(dataset, query: str) -> list[str]:
    flt = ExploreFilter.parse(QueryDict(query), dataset, catalog.attributes_with_labels(dataset))
    images, _ = explore_images(dataset, flt)
    return [im.source_path for im in images]


def _tag(dataset, paths: list[str], name: str, actor) -> None:
    """Tag the dataset's images at `paths` with `name`."""
    ids = dict(Image.objects.filter(dataset=dataset).values_list("source_path", "pk"))
    tag_images(dataset=dataset, image_ids=[ids[p] for p in paths], name=name, actor=actor)


def _label(dataset, attribute: str, name: str) -> Label:
    return Label.objects.get(attribute__dataset=dataset, attribute__name=attribute, name=name)


@pytest.fixture
def promoted(imported, data_scientist):
    """neckline's promoted run: image i predicted right with confidence 0.5 + i / 10, except
    img/0.png, predicted wrong (as the next label)."""
    neckline = Attribute.objects.get(dataset=imported, name="neckline")
    first = Image.objects.get(dataset=imported, source_path="img/0.png")
    run = finished_run(neckline, wrong={first.pk}, actor=data_scientist)
    for row in RunImage.objects.filter(run=run).select_related("image"):
        i = int(row.image.source_path[4])
        RunImage.objects.filter(pk=row.pk).update(confidence=0.5 + i / 10)
    promote_training_run(run=run, actor=data_scientist)
    return run


def test_no_filter_is_every_usable_image(imported):
    assert _paths(imported, "") == [f"img/{i}.png" for i in range(6)]


def test_split_narrows(imported):
    assert _paths(imported, "split=test") == ["img/4.png", "img/5.png"]
    assert _paths(imported, "split=train") == [f"img/{i}.png" for i in range(4)]


def test_label_narrows_and_implies_its_attribute(imported):
    v_neck = _label(imported, "neckline", "v-neck")
    assert _paths(imported, f"label={v_neck.pk}") == ["img/1.png", "img/4.png"]
    assert _paths(imported, f"attribute=neckline&label={v_neck.pk}") == ["img/1.png", "img/4.png"]


def test_prediction_and_confidence_read_the_promoted_model(imported, promoted):
    boat = _label(imported, "neckline", "boat")
    # img/0.png is a round neck the model calls v-neck; the boats are 2 and 5.
    v_neck = _label(imported, "neckline", "v-neck")
    assert _paths(imported, f"predicted={v_neck.pk}") == ["img/0.png", "img/1.png", "img/4.png"]
    assert _paths(imported, f"predicted={boat.pk}") == ["img/2.png", "img/5.png"]
    assert _paths(imported, "attribute=neckline&conf_min=0.75") == [
        "img/3.png",
        "img/4.png",
        "img/5.png",
    ]
    assert _paths(imported, "attribute=neckline&conf_min=.55&conf_max=0.85") == [
        "img/1.png",
        "img/2.png",
        "img/3.png",
    ]


def test_prediction_also_reads_scores_of_images_outside_the_run(imported, promoted):
    """An image the run never saw (here: one whose run row is gone) is scored by a scoring
    job into ImageScore: the same filter finds it there."""
    boat = _label(imported, "neckline", "boat")
    image = Image.objects.get(dataset=imported, source_path="img/0.png")
    RunImage.objects.filter(run=promoted, image=image).delete()
    ImageScore.objects.create(
        run=promoted,
        image=image,
        attribute=promoted.attribute,
        probs=[0.1, 0.1, 0.8],
        predicted_label=boat,
        confidence=0.8,
    )
    assert _paths(imported, f"predicted={boat.pk}") == ["img/0.png", "img/2.png", "img/5.png"]
    assert _paths(imported, f"predicted={boat.pk}&conf_max=0.75") == ["img/2.png"]


def test_tags_narrow_and_all_must_match(imported, merchandiser):
    _tag(imported, ["img/1.png", "img/3.png"], "reshoot", merchandiser)
    _tag(imported, ["img/3.png"], "Ambiguous", merchandiser)
    assert _paths(imported, "tag=reshoot") == ["img/1.png", "img/3.png"]
    assert _paths(imported, "tag=reshoot&tag=ambiguous") == ["img/3.png"]


def test_quarantine_shows_the_quarantined_images_instead(imported):
    Image.objects.filter(dataset=imported, source_path="img/2.png").update(
        status=ImageStatus.QUARANTINED
    )
    assert "img/2.png" not in _paths(imported, "")
    assert _paths(imported, "status=quarantined") == ["img/2.png"]


def test_search_by_sku_and_file_name_is_exact_or_prefix(imported):
    assert _paths(imported, "q=sku-1") == ["img/2.png", "img/3.png"]  # exact SKU
    assert _paths(imported, "q=sku-") == [f"img/{i}.png" for i in range(6)]  # SKU prefix
    assert _paths(imported, "q=img/4.png") == ["img/4.png"]  # exact path
    assert _paths(imported, "q=img/") == [f"img/{i}.png" for i in range(6)]  # path prefix
    assert _paths(imported, "q=ku-1") == []  # no substring match
    assert _paths(imported, "q=SKU-1") == []  # a SKU is case-sensitive


def test_filters_combine(imported, promoted, merchandiser):
    v_neck = _label(imported, "neckline", "v-neck")
    _tag(imported, ["img/1.png", "img/4.png"], "reshoot", merchandiser)
    query = f"predicted={v_neck.pk}&conf_min=0.55&tag=reshoot&q=sku-&split=train"
    assert _paths(imported, query) == ["img/1.png"]
    assert _paths(imported, query.replace("split=train", "split=test")) == ["img/4.png"]


def test_the_canonical_query_round_trips(imported, promoted, merchandiser):
    tag_images(dataset=imported, image_ids=[], name="reshoot", actor=merchandiser)
    v_neck = _label(imported, "neckline", "v-neck")
    attributes = catalog.attributes_with_labels(imported)
    query = f"q=sku-1&tag=reshoot&conf_max=0.9&predicted={v_neck.pk}&split=train&status=ok"
    flt = ExploreFilter.parse(QueryDict(query), imported, attributes)
    canonical = flt.to_query()
    assert canonical == (
        f"attribute=neckline&predicted={v_neck.pk}&conf_max=0.9&split=train&tag=reshoot&q=sku-1"
    )
    assert ExploreFilter.parse(QueryDict(canonical), imported, attributes).to_query() == canonical


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("split=validation", "split"),
        ("status=deleted", "status"),
        ("attribute=colour", "attribute"),
        ("label=abc", "label"),
        ("label=999999", "label"),
        ("label=none", "label"),  # needs an attribute
        ("predicted=-1", "predicted"),
        ("attribute=neckline&conf_min=1.5", "conf_min"),
        ("attribute=neckline&conf_max=high", "conf_max"),
        ("attribute=neckline&conf_min=0.9&conf_max=0.1", "conf_min"),
        ("conf_min=0.5", "conf_min"),  # needs an attribute
        ("attribute=neckline&conf_min=0.5", "predicted"),  # no promoted model
        ("tag=nosuchtag", "tag"),
        ("q=" + "x" * 300, "q"),
    ],
)
def test_a_bad_value_names_its_parameter(imported, query, parameter):
    with pytest.raises(BadParameter) as caught:
        _paths(imported, query)
    assert caught.value.name == parameter
    assert parameter in caught.value.message


def test_a_label_of_another_attribute_is_refused(imported):
    long = _label(imported, "sleeve", "long")
    with pytest.raises(BadParameter, match="sleeve, not neckline"):
        _paths(imported, f"attribute=neckline&label={long.pk}")
