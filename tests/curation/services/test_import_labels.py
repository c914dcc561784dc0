"""New labels only when asked for by name: an import into an existing attribute lists the
labels the dataset lacks, creates only those named in create_labels, and refuses the other
rows with an error naming the label. A column new to the dataset brings its labels."""

from __future__ import annotations

import pytest

from curation.models import Label
from curation.services.imports import NotInDataset, import_catalog
from tests.support.catalogs import write_manifest, write_png

pytestmark = pytest.mark.django_db


def _catalog(root, rows):
    for i, _ in enumerate(rows):
        write_png(root / f"{i}.png", colour=(10 * i, 60, 200 - 10 * i))
    write_manifest(root, ["path", "neckline"], [[f"{i}.png", v] for i, v in enumerate(rows)])
    return str(root)


def _names():
    return set(Label.objects.filter(attribute__name="neckline").values_list("name", flat=True))


def test_create_does_not_turn_an_unknown_label_into_a_class(tmp_path, imported):
    report = import_catalog(
        _catalog(tmp_path / "c", ["round", "bot", "bot"]), dataset_name="dresses", create=True
    )

    assert _names() == {"round", "v-neck", "boat"}
    assert report.created == 1
    assert [e["reason"] for e in report.errors] == [
        "unknown label 'bot' for attribute 'neckline' (known: round, v-neck, boat)"
    ] * 2
    assert report.new_labels == [
        {"attribute": "neckline", "label": "bot", "rows": 2, "created": False}
    ]


@pytest.mark.parametrize("named", ["square", "neckline:square", " square , other "])
def test_a_label_named_in_create_labels_is_created(tmp_path, imported, named):
    report = import_catalog(
        _catalog(tmp_path / "c", ["square", "halter"]),
        dataset_name="dresses",
        create_labels=named,
    )

    assert _names() == {"round", "v-neck", "boat", "square"}
    assert report.created == 1 and "halter" in report.errors[0]["reason"]
    assert {n["label"]: n["created"] for n in report.new_labels} == {
        "square": True,
        "halter": False,
    }
    assert report.unused_create_labels == (["other"] if "other" in named else [])


def test_a_new_column_brings_its_labels(tmp_path, db):
    report = import_catalog(_catalog(tmp_path / "c", ["a", "b"]), dataset_name="n", create=True)

    assert report.created == 2 and report.errors == [] and report.new_labels == []
    assert _names() == {"a", "b"}


def test_the_command_line_wording_names_its_flag(tmp_path, db):
    with pytest.raises(NotInDataset) as refused:
        import_catalog(_catalog(tmp_path / "c", ["a"]), dataset_name="nope")
    assert str(refused.value) == "dataset 'nope' does not exist; pass --create to create it"
    assert refused.value.worded("tick the box") == (
        "dataset 'nope' does not exist; tick the box to create it"
    )
