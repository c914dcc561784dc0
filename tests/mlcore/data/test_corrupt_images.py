"""A bad image anywhere in the list is skipped and counted, never fatal."""

from pathlib import Path

import pytest
from PIL import Image

from mlcore.data.dataset import ImageItemsDataset, collate_skipping
from mlcore.data.loaders import decode_items
from mlcore.data.transforms import EvalPreset
from mlcore.infer import predict_items
from mlcore.train import fit
from tests.mlcore.conftest import NAMES, tiny_config


def write_bad_files(folder: Path) -> list[tuple[str, int]]:
    folder.mkdir(exist_ok=True)
    truncated = folder / "truncated.png"
    Image.new("RGB", (32, 32), "blue").save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:50])
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    text = folder / "notes.jpg"
    text.write_text("not a jpeg at all")
    missing = folder / "missing.png"
    return [(str(truncated), 0), (str(empty), 1), (str(text), 2), (str(missing), 0)]


@pytest.fixture
def mixed_items(make_items, tmp_path):
    good = make_items(24)
    bad = write_bad_files(tmp_path / "bad")
    # interleave, so bad images land inside batches, not just at the end
    return good[:5] + bad[:2] + good[5:17] + bad[2:] + good[17:], {p for p, _ in bad}


def test_collate_drops_bad_samples_and_lists_them(mixed_items):
    items, bad = mixed_items
    dataset = ImageItemsDataset(items, transform=EvalPreset(size=16, crop_fraction=1.0))

    batch = collate_skipping([dataset[i] for i in range(len(items))])

    assert len(batch) == len(items) - 4
    assert batch.images.shape == (len(items) - 4, 3, 16, 16)
    assert {items[i][0] for i, _ in batch.skipped} == bad
    assert all(reason for _, reason in batch.skipped)
    assert set(batch.indices.tolist()).isdisjoint(i for i, _ in batch.skipped)


def test_decoded_cache_skips_and_counts_bad_images(mixed_items):
    items, bad = mixed_items

    cache = decode_items(items, size=16)

    assert len(cache) == len(items) - 4
    assert len(cache.skipped) == 4
    assert {items[i][0] for i, _ in cache.skipped} == bad
    labels = [items[i][1] for i in cache.indices.tolist()]
    assert cache.labels.tolist() == labels


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "files"])
def test_training_survives_bad_images_and_reports_each_once(mixed_items, tmp_path, cache):
    items, bad = mixed_items

    result = fit(tiny_config(epochs=2, cache_decoded=cache), items, NAMES, out_dir=tmp_path / "run")

    assert result.epochs_done == 2 and not result.cancelled
    assert sorted(p for p, _ in result.skipped) == sorted(bad)


def test_prediction_lists_bad_images_as_skipped(mixed_items, tmp_path):
    items, bad = mixed_items
    config = tiny_config()
    model = fit(config, items, NAMES, out_dir=tmp_path / "run").model

    out = predict_items(model, items, config=config, batch_size=5)

    assert out.probs.shape == (len(items) - 4, 3)
    assert {items[i][0] for i, _ in out.skipped} == bad
