import csv
import gzip
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.datasets import fashion_mnist as fm

SYSTEM_PRESENT = all(
    (fm.SYSTEM_ROOT / name).is_file() for pair in fm.FILES.values() for name in pair
)
ROOTS = [
    pytest.param(fm.SUBSET_ROOT, id="subset"),
    pytest.param(
        fm.SYSTEM_ROOT,
        id="system",
        marks=pytest.mark.skipif(
            not SYSTEM_PRESENT, reason="Debian package dataset-fashion-mnist not installed"
        ),
    ),
]
# The first ten labels of each official split, as published by Zalando.
FIRST_LABELS = {"train": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5], "test": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]}


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("split", fm.SPLITS)
def test_load_returns_uint8_images_and_official_labels(root, split):
    images, labels = fm.load(split, root=root, limit=500)

    assert images.shape == (500, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (500,) and labels.dtype == np.int64
    assert labels[:10].tolist() == FIRST_LABELS[split]
    assert images.max() == 255 and images.min() == 0


def test_subset_holds_the_first_images_of_each_split_and_every_class():
    train_images, train_labels = fm.load("train", root=fm.SUBSET_ROOT)
    test_images, test_labels = fm.load("test", root=fm.SUBSET_ROOT)

    assert len(train_images) == 3000 and len(test_images) == 1000
    assert set(train_labels.tolist()) == set(range(10)) == set(test_labels.tolist())
    assert (fm.SUBSET_ROOT / "LICENSE").read_text().count("Zalando SE") >= 1


@pytest.mark.skipif(not SYSTEM_PRESENT, reason="Debian package dataset-fashion-mnist not installed")
def test_subset_is_byte_identical_to_the_start_of_the_system_files():
    for split in fm.SPLITS:
        sub_images, sub_labels = fm.load(split, root=fm.SUBSET_ROOT)
        images, labels = fm.load(split, root=fm.SYSTEM_ROOT, limit=len(sub_labels))
        np.testing.assert_array_equal(sub_images, images)
        np.testing.assert_array_equal(sub_labels, labels)


def test_find_root_prefers_given_then_system_then_subset(tmp_path, monkeypatch):
    assert fm.find_root(tmp_path) == tmp_path
    monkeypatch.setattr(fm, "SYSTEM_ROOT", tmp_path / "missing")
    assert fm.find_root() == fm.SUBSET_ROOT
    fm.write_subset(fm.SUBSET_ROOT, tmp_path / "missing", n_train=2, n_test=2)
    assert fm.find_root() == tmp_path / "missing"


def test_write_subset_round_trips_the_first_items(tmp_path):
    fm.write_subset(fm.SUBSET_ROOT, tmp_path, n_train=20, n_test=7)

    for split, n in (("train", 20), ("test", 7)):
        images, labels = fm.load(split, root=tmp_path)
        expected_images, expected_labels = fm.load(split, root=fm.SUBSET_ROOT, limit=n)
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)


def test_unknown_split_raises_value_error():
    with pytest.raises(ValueError, match="'validation'"):
        fm.load("validation")


def _write_raw_gz(path: Path, payload: bytes) -> None:
    with gzip.open(path, "wb") as f:
        f.write(payload)


def _truncate(path: Path) -> None:
    with gzip.open(path, "rb") as f:
        data = f.read()
    _write_raw_gz(path, data[: len(data) // 2])


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(
            lambda p: _write_raw_gz(p, struct.pack(">IIII", 0x0801, 1, 28, 28)), id="magic"
        ),
        pytest.param(_truncate, id="truncated"),
        pytest.param(lambda p: p.write_bytes(b"not a gzip file at all"), id="not-gzip"),
        pytest.param(lambda p: _write_raw_gz(p, b"\x00\x00"), id="short-header"),
    ],
)
def test_corrupt_idx_file_raises_value_error_naming_file(tmp_path, corrupt):
    fm.write_subset(fm.SUBSET_ROOT, tmp_path, n_train=10, n_test=10)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    corrupt(bad)

    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        fm.load("test", root=tmp_path)
    fm.load("train", root=tmp_path)  # the other split is untouched


def test_labels_of_another_length_than_images_raise_value_error(tmp_path):
    fm.write_subset(fm.SUBSET_ROOT, tmp_path, n_train=10, n_test=10)
    shutil.copy(fm.SUBSET_ROOT / "t10k-labels-idx1-ubyte.gz", tmp_path)

    with pytest.raises(ValueError, match="1000 labels for 10 images"):
        fm.load("test", root=tmp_path)


def test_missing_file_error_says_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fm.load("train", root=tmp_path)


def test_write_image_folder_writes_csv_matching_pngs(tmp_path):
    calls = []
    labels_path = fm.write_image_folder(
        tmp_path / "out", limit_per_split=6, progress=lambda done, total: calls.append(done)
    )

    with labels_path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["path", "product", "split", "category"]
        rows = list(reader)
    assert len(rows) == 12 and calls[-1] == 12
    assert len({row["product"] for row in rows}) == 12
    assert rows[6] == {
        "path": "test/00000.png",
        "product": "fmnist-test-00000",
        "split": "test",
        "category": "Ankle boot",
    }
    for split in fm.SPLITS:
        images, labels = fm.load(split, limit=6)
        split_rows = [row for row in rows if row["split"] == split]
        for row, image, label in zip(split_rows, images, labels, strict=True):
            with Image.open(labels_path.parent / row["path"]) as png:
                assert png.mode == "L"
                np.testing.assert_array_equal(np.asarray(png), image)
            assert row["category"] == fm.CLASSES[label]
    assert not list(labels_path.parent.glob("*.tmp"))


def test_write_image_folder_drops_a_stale_csv_when_it_fails(tmp_path):
    out = tmp_path / "out"
    fm.write_image_folder(out, limit_per_split=2)

    with pytest.raises(FileNotFoundError):
        fm.write_image_folder(out, root=tmp_path / "nowhere")
    assert not (out / "labels.csv").exists()


def test_datasets_import_neither_django_nor_torch():
    code = (
        "import sys, mlcore.datasets.fashion_mnist, mlcore.datasets.synthetic_dresses; "
        "print(sorted(m for m in ('django', 'torch') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
