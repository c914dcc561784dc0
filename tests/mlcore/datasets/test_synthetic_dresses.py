import csv
import itertools
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from mlcore.datasets import synthetic_dresses as sd


def _read_csv(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _tree_bytes(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_is_deterministic_for_a_seed(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        sd.generate(tmp_path / name, n_products=3, photos_per_product=2, size=64, seed=seed)

    first, again, other = (_tree_bytes(tmp_path / n) for n in "abc")
    assert first == again
    assert first.keys() == other.keys() and first != other


def test_fewer_products_give_a_prefix_of_the_same_data_set(tmp_path):
    small = sd.generate(tmp_path / "small", n_products=2, photos_per_product=2, size=48)
    large = sd.generate(tmp_path / "large", n_products=4, photos_per_product=2, size=48)

    assert _read_csv(small) == _read_csv(large)[:4]
    png = "images/dress-00001-1.png"
    assert (small.parent / png).read_bytes() == (large.parent / png).read_bytes()


def test_generate_writes_labels_meta_and_notice(tmp_path):
    progress = []
    labels_path = sd.generate(
        tmp_path,
        n_products=4,
        photos_per_product=3,
        size=64,
        progress=lambda d, t: progress.append((d, t)),
    )

    labels = _read_csv(labels_path)
    meta = _read_csv(tmp_path / "meta.csv")
    assert list(labels[0]) == ["path", "product", "silhouette", "neckline", "sleeve", "occasion"]
    assert list(meta[0])[:6] == ["path", "product", "x0", "y0", "x1", "y1"]
    assert {"colour", "pattern", "pattern_seed", "background", "angle"} <= set(meta[0])
    assert [row["path"] for row in labels] == [row["path"] for row in meta]
    assert len(labels) == 12 and progress[-1] == (12, 12)
    for row in labels:
        with Image.open(tmp_path / row["path"]) as image:
            assert image.size == (64, 64) and image.mode == "RGB"
    assert "SYNTHETIC" in (tmp_path / "SYNTHETIC.txt").read_text()


def test_photos_of_a_product_share_labels_and_dress_but_not_placement(tmp_path):
    sd.generate(tmp_path, n_products=5, photos_per_product=3, size=64, seed=3)
    meta = _read_csv(tmp_path / "meta.csv")
    photo_keys = {"path", "x0", "y0", "x1", "y1", "background", "angle", "scale"}

    for _, group in itertools.groupby(meta, key=lambda row: row["product"]):
        rows = list(group)
        assert len(rows) == 3
        dresses = {tuple((k, v) for k, v in row.items() if k not in photo_keys) for row in rows}
        assert len(dresses) == 1
        assert len({(row["x0"], row["y0"], row["x1"], row["y1"]) for row in rows}) > 1


def test_every_label_appears(tmp_path):
    labels = _read_csv(sd.generate(tmp_path, n_products=40, photos_per_product=1, size=40))

    for attribute, values in sd.ATTRIBUTES.items():
        assert {row[attribute] for row in labels} == set(values), attribute


RED = (230, 40, 40)


@pytest.mark.parametrize(
    ("silhouette", "sleeve", "seed"),
    [
        (s, v, i)
        for i, (s, v) in enumerate(
            itertools.product(sd.ATTRIBUTES["silhouette"], sd.ATTRIBUTES["sleeve"])
        )
    ],
)
def test_box_encloses_the_dress_pixels(silhouette, sleeve, seed):
    spec = replace(
        sd.random_spec(random.Random(seed)),
        silhouette=silhouette,
        sleeve=sleeve,
        pattern="solid",
        colour=RED,
    )
    black = Image.new("RGB", (96, 96))

    image, box = sd.render(spec, size=96, rng=random.Random(seed), background=black)

    drawn = np.asarray(image).any(axis=2)  # (96, 96) True where the dress changed a pixel
    ys, xs = np.nonzero(drawn)
    assert box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_render_keeps_the_dress_inside_at_35_to_85_percent_height():
    heights = []
    for seed in range(40):
        rng = random.Random(seed)
        image, (x0, y0, x1, y1) = sd.render(sd.random_spec(rng), size=64, rng=rng)
        assert image.size == (64, 64)
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
        heights.append((y1 - y0) / 64)
    assert min(heights) >= 0.3 and max(heights) <= 0.9
    assert max(heights) - min(heights) > 0.3


def test_changing_one_shape_attribute_changes_the_picture():
    spec = sd.random_spec(random.Random(1))
    background = Image.new("RGB", (96, 96), (128, 128, 128))
    base, _ = sd.render(spec, size=96, rng=random.Random(0), background=background)

    for attribute in ("silhouette", "neckline", "sleeve"):  # occasion lives in the fabric
        values = sd.ATTRIBUTES[attribute]
        other = next(v for v in values if v != getattr(spec, attribute))
        changed, _ = sd.render(
            replace(spec, **{attribute: other}),
            size=96,
            rng=random.Random(0),
            background=background,
        )
        assert np.asarray(changed).tolist() != np.asarray(base).tolist(), attribute


def test_random_spec_dresses_each_occasion_in_its_own_fabric():
    specs = [sd.random_spec(random.Random(i)) for i in range(200)]

    for spec in specs:
        assert spec.pattern in sd.PATTERNS[spec.occasion]
    work = [max(s.colour) for s in specs if s.occasion == "work"]
    casual = [max(s.colour) for s in specs if s.occasion == "casual"]
    assert max(work) < min(casual)


def test_spec_rejects_an_unknown_label():
    spec = sd.random_spec(random.Random(0))

    with pytest.raises(ValueError, match="neckline='halter'"):
        replace(spec, neckline="halter")
