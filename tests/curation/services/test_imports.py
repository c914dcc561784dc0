"""import_catalog: tolerant, idempotent, atomic per row, sync vs. manual edits."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from curation.models import (
    Annotation,
    Dataset,
    Image,
    ImageStatus,
    LabelEvent,
    LabelSource,
    Product,
)
from curation.services.datasets import create_dataset
from curation.services.imports import import_catalog
from curation.services.labels import relabel_image
from curation.services.sources import SourceError
from tests.support.catalogs import write_bad_catalog, write_manifest, write_png

pytestmark = pytest.mark.django_db


def test_it_imports_images_labels_products_and_history(imported):
    images = Image.objects.filter(dataset=imported)
    assert images.count() == 6
    assert Product.objects.filter(dataset=imported).count() == 3
    assert (
        LabelEvent.objects.filter(image__dataset=imported, source=LabelSource.IMPORT).count() == 12
    )
    image = images.get(source_path="img/1.png")
    assert image.status == ImageStatus.OK and (image.width, image.height) == (24, 32)
    assert len(image.sha256) == 64 and len(image.phash) == 16
    assert default_storage.exists(image.file)
    assert image.thumbnail == image.file  # small enough to be its own thumbnail
    labels = {
        a.attribute.name: a.label.name
        for a in image.annotations.select_related("attribute", "label")
    }
    assert labels == {"neckline": "v-neck", "sleeve": "long"}


def test_it_copies_files_so_the_source_may_vanish(small_catalog, db):
    import_catalog(str(small_catalog), dataset_name="d", create=True)
    image = Image.objects.get(source_path="img/0.png")
    original = (small_catalog / "img" / "0.png").read_bytes()
    for f in (small_catalog / "img").iterdir():
        f.unlink()
    with default_storage.open(image.file) as stored:
        assert stored.read() == original


def test_rerunning_the_same_source_changes_nothing(imported, small_catalog):
    events_before = LabelEvent.objects.count()
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 6)
    assert report.errors == [] and report.conflicts == []
    assert LabelEvent.objects.count() == events_before


def test_split_comes_from_the_manifest_and_is_shared_by_a_product(imported):
    splits = dict(Image.objects.filter(dataset=imported).values_list("source_path", "split"))
    assert splits == {
        "img/0.png": "train",
        "img/1.png": "train",
        "img/2.png": "train",
        "img/3.png": "train",
        "img/4.png": "test",
        "img/5.png": "test",
    }


def test_split_without_a_column_is_deterministic_per_product(tmp_path, db):
    rows = []
    for i in range(40):
        write_png(tmp_path / "c" / f"{i}.png", colour=(i, 2 * i, 3 * i))
        rows.append([f"{i}.png", f"p{i // 2}"])
    write_manifest(tmp_path / "c", ["path", "product"], rows)
    dataset = Dataset.objects.create(name="a", test_fraction=0.5, split_salt="fixed-salt")
    import_catalog(str(tmp_path / "c"), dataset_name="a")
    first = dict(Image.objects.filter(dataset=dataset).values_list("source_path", "split"))
    assert set(first.values()) == {"train", "test"}
    for i in range(0, 40, 2):  # both photos of a product share its split
        assert first[f"{i}.png"] == first[f"{i + 1}.png"]
    # Same salt and keys in another dataset, imported in reverse order: same answer.
    write_manifest(tmp_path / "c", ["path", "product"], rows[::-1])
    Dataset.objects.create(name="b", test_fraction=0.5, split_salt="fixed-salt")
    import_catalog(str(tmp_path / "c"), dataset_name="b")
    second = dict(Image.objects.filter(dataset__name="b").values_list("source_path", "split"))
    assert second == first


def test_new_rows_are_added_on_a_later_import(imported, small_catalog):
    write_png(small_catalog / "img" / "new.png", colour=(1, 1, 1))
    lines = (small_catalog / "labels.csv").read_text().splitlines()
    lines.append("img/new.png,sku-9,,boat,short")
    (small_catalog / "labels.csv").write_text("\n".join(lines) + "\n")
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert (report.created, report.unchanged) == (1, 6)


def _set_label(catalog, path: str, column: int, value: str) -> None:
    lines = (catalog / "labels.csv").read_text().splitlines()
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == path:
            cells[column] = value
            lines[i] = ",".join(cells)
    (catalog / "labels.csv").write_text("\n".join(lines) + "\n")


def test_a_changed_source_label_is_applied_as_a_sync_event(imported, small_catalog):
    _set_label(small_catalog, "img/0.png", 3, "boat")
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert report.updated == 1 and report.conflicts == []
    ann = Annotation.objects.get(image__source_path="img/0.png", attribute__name="neckline")
    assert ann.label.name == "boat" and ann.version == 2
    event = LabelEvent.objects.filter(image=ann.image).order_by("-id").first()
    assert (event.source, event.old_label.name, event.new_label.name) == ("sync", "round", "boat")


def test_a_persons_change_is_kept_and_reported_as_a_conflict(imported, small_catalog, merchandiser):
    ann = Annotation.objects.select_related("image", "attribute").get(
        image__source_path="img/0.png", attribute__name="neckline"
    )
    square = ann.attribute.labels.create(name="square", position=9)
    relabel_image(image=ann.image, attribute=ann.attribute, label=square, actor=merchandiser)
    # The person's fix alone is not a conflict: the source did not change.
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert report.conflicts == [] and report.updated == 0
    _set_label(small_catalog, "img/0.png", 3, "boat")
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert report.conflicts == [
        {
            "line": 2,
            "path": "img/0.png",
            "attribute": "neckline",
            "current": "square",
            "incoming": "boat",
            "changed_by": "manual",
        }
    ]
    ann.refresh_from_db()
    assert ann.label.name == "square"
    report = import_catalog(str(small_catalog), dataset_name="dresses", overwrite_manual=True)
    ann.refresh_from_db()
    assert ann.label.name == "boat" and report.updated == 1


def test_an_empty_cell_never_erases_a_label(imported, small_catalog):
    _set_label(small_catalog, "img/0.png", 3, "")
    report = import_catalog(str(small_catalog), dataset_name="dresses")
    assert report.updated == 0
    assert (
        Annotation.objects.get(
            image__source_path="img/0.png", attribute__name="neckline"
        ).label.name
        == "round"
    )


def test_bad_files_are_quarantined_and_bad_rows_reported_with_lines(tmp_path, db):
    root, quarantined, errors = write_bad_catalog(tmp_path / "bad-catalog")
    create_dataset(name="zoo", attributes={"neckline": ["round", "v-neck"]})
    report = import_catalog(str(root), dataset_name="zoo")
    assert len(quarantined) + len(errors) >= 15
    assert report.created == 5  # good/0..3.png and good/copy-source.png
    got_q = {q["path"]: q["reason"] for q in report.quarantined}
    assert set(got_q) == set(quarantined)
    for path, words in quarantined.items():
        assert words in got_q[path], (path, got_q[path])
    got_e = {e["line"]: e["reason"] for e in report.errors}
    assert set(got_e) == set(errors), report.errors
    for line, words in errors.items():
        assert words in got_e[line], (line, got_e[line])
    # Nothing silently lost: every data line is accounted for exactly once.
    data_lines = len((root / "labels.csv").read_text().splitlines()) - 1
    assert report.created + len(report.quarantined) + len(report.errors) == data_lines
    # A rerun reports no changes and the same problems.
    again = import_catalog(str(root), dataset_name="zoo")
    assert (again.created, again.updated) == (0, 0)
    assert again.quarantined == report.quarantined and again.errors == report.errors


def test_quarantined_images_keep_their_reason_and_no_file(tmp_path, db):
    root, _, _ = write_bad_catalog(tmp_path / "bad")
    import_catalog(str(root), dataset_name="zoo", create=True)
    image = Image.objects.get(source_path="bad/zero.png")
    assert image.status == ImageStatus.QUARANTINED and "empty" in image.quarantine_reason
    assert image.file == "" and image.thumbnail == ""


def test_a_fixed_file_leaves_quarantine_on_the_next_import(tmp_path, db):
    root = tmp_path / "c"
    (root).mkdir()
    (root / "a.png").write_bytes(b"")
    write_manifest(root, ["path", "neckline"], [["a.png", "round"]])
    first = import_catalog(str(root), dataset_name="d", create=True)
    assert first.created == 0 and len(first.quarantined) == 1
    write_png(root / "a.png")
    second = import_catalog(str(root), dataset_name="d")
    assert second.updated == 1 and second.quarantined == []
    assert Image.objects.get(source_path="a.png").status == ImageStatus.OK


def test_a_failed_row_leaves_no_rows_and_no_files(tmp_path, db, monkeypatch):
    """Inject a database failure for one row: its image, labels, history and files are gone."""
    root = tmp_path / "c"
    write_png(root / "a.png", colour=(1, 1, 1))
    write_png(root / "b.png", colour=(2, 2, 2))
    write_manifest(root, ["path", "neckline"], [["a.png", "round"], ["b.png", "boat"]])
    from curation.services import import_writes

    real = import_writes.write_plans

    def failing(ctx, plans):
        if any(p.row.path == "b.png" for p in plans):
            from django.db import DatabaseError

            raise DatabaseError("injected fault")
        return real(ctx, plans)

    monkeypatch.setattr(import_writes, "write_plans", failing)
    report = import_catalog(str(root), dataset_name="d", create=True)
    assert report.created == 1
    assert [(e["path"], "injected fault" in e["reason"]) for e in report.errors] == [
        ("b.png", True)
    ]
    assert list(Image.objects.values_list("source_path", flat=True)) == ["a.png"]
    stored = [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in stored] == [(root / "a.png").read_bytes()]  # nothing of b.png


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (b"", "empty"),
        (b"file,neckline\nx.png,round\n", "no 'path' column"),
        (b"path,path\n", "repeats"),
        (b"path,Neck Line\n", "not a valid attribute name"),
        (b"path,neckline\n\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_an_unusable_manifest_is_refused_with_its_reason(tmp_path, db, manifest, words):
    (tmp_path / "labels.csv").write_bytes(manifest)
    with pytest.raises(SourceError, match=words):
        import_catalog(str(tmp_path), dataset_name="d", create=True)
    assert not Image.objects.exists()


def test_a_missing_source_or_dataset_is_refused(tmp_path, small_catalog, db):
    with pytest.raises(SourceError, match="does not exist"):
        import_catalog(str(tmp_path / "nope"), dataset_name="d", create=True)
    with pytest.raises(SourceError, match="has no labels.csv"):
        import_catalog(str(tmp_path), dataset_name="d", create=True)
    with pytest.raises(SourceError, match="pass --create"):
        import_catalog(str(small_catalog), dataset_name="unknown")


def test_unknown_columns_need_create(imported, small_catalog):
    lines = (small_catalog / "labels.csv").read_text().splitlines()
    lines[0] += ",colour"
    lines[1:] = [line + ",red" for line in lines[1:]]
    (small_catalog / "labels.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError, match="colour"):
        import_catalog(str(small_catalog), dataset_name="dresses")
    report = import_catalog(str(small_catalog), dataset_name="dresses", create=True)
    assert report.updated == 6


def test_labels_created_on_the_fly_follow_first_appearance(imported):
    order = list(imported.attributes.get(name="neckline").labels.values_list("name", flat=True))
    assert order == ["round", "v-neck", "boat"]


def test_large_images_get_a_webp_thumbnail(tmp_path, db, settings):
    write_png(tmp_path / "c" / "big.png", size=(640, 480))
    write_manifest(tmp_path / "c", ["path"], [["big.png"]])
    import_catalog(str(tmp_path / "c"), dataset_name="d", create=True)
    image = Image.objects.get()
    from PIL import Image as PILImage

    with default_storage.open(image.thumbnail) as f, PILImage.open(f) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == settings.CURATION_THUMBNAIL_PX


def test_worker_processes_give_the_same_report_as_threads(tmp_path, db, monkeypatch):
    """Big local imports probe files in spawned processes; results must not depend on it."""
    from curation.services import imports

    root, _, _ = write_bad_catalog(tmp_path / "zoo")
    create_dataset(name="threads", attributes={"neckline": ["round", "v-neck"]})
    create_dataset(name="processes", attributes={"neckline": ["round", "v-neck"]})
    by_threads = import_catalog(str(root), dataset_name="threads")
    monkeypatch.setattr(imports, "PROCESS_POOL_MIN_ROWS", 0)
    monkeypatch.setattr(imports, "CHUNK", 7)  # several chunks, so probing overlaps writing
    assert imports.uses_processes(imports.open_source(str(root)), 30)
    by_processes = import_catalog(str(root), dataset_name="processes")
    strip = {"dataset", "source"}
    assert {k: v for k, v in by_processes.to_dict().items() if k not in strip} == {
        k: v for k, v in by_threads.to_dict().items() if k not in strip
    }
    files = {
        d: sorted(Image.objects.filter(dataset__name=d).values_list("file", flat=True))
        for d in ("threads", "processes")
    }
    assert files["threads"] == files["processes"] and len(files["threads"]) == 15


def test_an_import_stopped_between_chunks_keeps_no_file_of_the_chunk_it_did_not_write(
    small_catalog, db, tmp_path, monkeypatch
):
    from curation.services import imports

    monkeypatch.setattr(imports, "CHUNK", 2)

    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        if done == 2:
            raise Stop  # as a cancelled job's progress() does

    with pytest.raises(Stop):
        import_catalog(str(small_catalog), dataset_name="d", create=True, progress=progress)
    images = Image.objects.all()
    assert images.count() == 2
    stored = {p.relative_to(tmp_path / "media").as_posix() for p in (tmp_path / "media").rglob("*")}
    stored = {key for key in stored if "." in key.rsplit("/", 1)[-1]}
    assert stored == {key for im in images for key in (im.file, im.thumbnail)}
