"""Classify a photo with a dataset's promoted models, and read catalog images' scores for the
classify API.

An uploaded photo is validated like an import (size, format, pixels, bombs), cropped to the
dress where the dataset's similarity index has a localizer (the same crop the similarity
search uses), and run through each promoted model's eval preset (mlcore.infer); the
probabilities get the run's temperature, as stored scores do. Catalog images are answered
from their stored scores (queries/scores.py), never re-scored here.

Models are loaded once per process into a small LRU cache keyed by run id: a web process
doesn't reload per request, and an entry of an attribute whose promoted run changed is
dropped the next time that dataset is classified.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from curation.artifacts import fill_boxes, local_artifact, run_localizer
from curation.imaging import Rejection, inspect_image, preview_jpeg
from curation.models import Dataset, Image, PromotedModel, TrainingRun
from curation.queries import search
from curation.queries.scores import promoted_runs, run_temperature, scores_for_images
from curation.storage import s3_options
from mlcore.eval.calibration import apply_temperature

MAX_IMAGES = 100  # catalog image ids per call
CROP_MARGIN = 0.05  # the similarity search crops with the same margin (mlcore iter_views)


class ClassifyError(Exception):
    """A photo or request that can't be classified; the message names the problem."""


@dataclass(frozen=True)
class LabelProbability:
    name: str
    probability: float  # calibrated with the run's temperature


@dataclass(frozen=True)
class AttributeScores:
    attribute: str
    run_id: int  # the model version
    labels: list[LabelProbability]  # every label, most probable first

    @property
    def top(self) -> LabelProbability:
        return self.labels[0]


@dataclass(frozen=True)
class Crop:
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) pixels of the photo, the localizer's
    width: int  # of the photo
    height: int
    preview: bytes  # a small JPEG of the crop, for the page


@dataclass(frozen=True)
class PhotoScores:
    crop: Crop | None  # None: the whole photo was used (no localizer for this dataset)
    attributes: list[AttributeScores]


@dataclass(frozen=True)
class ImageScores:
    image_id: int
    attributes: list[AttributeScores]
    unscored: list[str]  # attributes with a promoted model that has not scored the image yet


# --- the model cache ---------------------------------------------------------------------


@dataclass
class LoadedModel:
    run_id: int
    attribute_id: int
    artifact_uri: str
    saved: Any  # mlcore.store.SavedModel


class ModelCache:
    """Promoted runs' models by run id, least recently used dropped beyond `size`."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size  # None: settings.CURATION_CLASSIFY_CACHE_MODELS
        self.loads = 0  # models read from storage since the process started (or clear())
        self._lock = threading.Lock()
        self._models: OrderedDict[int, LoadedModel] = OrderedDict()
        self._localizers: dict[int, Any] = {}  # similarity run id -> LocalizerModel | None

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self._localizers.clear()
            self.loads = 0

    def __contains__(self, run_id: int) -> bool:
        return run_id in self._models

    def model(self, promoted: PromotedModel) -> LoadedModel:
        """The promoted run's model, loaded on first use. Loading holds the lock, so two
        requests arriving together never read the same model twice."""
        run = promoted.run
        with self._lock:
            for stale in [
                k
                for k, m in self._models.items()
                if m.attribute_id == promoted.attribute_id and k != run.pk
            ]:
                del self._models[stale]  # the attribute's promoted run changed
            hit = self._models.get(run.pk)
            if hit is not None and hit.artifact_uri == run.artifact_uri:
                self._models.move_to_end(run.pk)
                return hit
            loaded = LoadedModel(run.pk, promoted.attribute_id, run.artifact_uri, _load(run))
            self.loads += 1
            self._models[run.pk] = loaded
            while len(self._models) > (self.size or settings.CURATION_CLASSIFY_CACHE_MODELS):
                self._models.popitem(last=False)
            return loaded

    def localizer(self, dataset: Dataset):
        """The localizer of the run behind the dataset's current similarity index, or None."""
        row = search.current_index(dataset)
        if row is None or row.run_id is None:
            return None
        with self._lock:
            if row.run_id not in self._localizers:
                try:
                    self._localizers[row.run_id] = run_localizer(row.run)
                except (OSError, ValueError) as exc:
                    raise ClassifyError(
                        f"the dress localizer of similarity run #{row.run_id} cannot be read "
                        f"({exc}); build a new index on the similarity page"
                    ) from None
            return self._localizers[row.run_id]


def _load(run):
    from mlcore.store import load_model

    if not run.artifact_uri:
        raise ClassifyError(f"run #{run.pk} has no stored model; promote a run that finished")
    try:
        return load_model(local_or_s3(run.artifact_uri), device="cpu", s3=s3_options())
    except OSError as exc:  # FileNotFoundError included: the folder or object is gone
        raise ClassifyError(f"the model of run #{run.pk} cannot be read: {exc}") from None


def local_or_s3(uri: str) -> str:
    """mlcore.store reads a saved version on S3 itself; a checkpoint file on S3 is fetched."""
    return local_artifact(uri) if uri.startswith("s3://") and uri.endswith(".pt") else uri


CACHE = ModelCache()


# --- requests ----------------------------------------------------------------------------


def models_for(dataset: Dataset) -> list[PromotedModel]:
    promoted = [p for p in promoted_runs(dataset.pk) if p.run.kind == TrainingRun.Kind.CLASSIFIER]
    if not promoted:
        raise ClassifyError(
            f"'{dataset.name}' has no promoted model yet; promote a finished run on an "
            "attribute's runs page first"
        )
    return promoted


def classify_photo(dataset: Dataset, data: bytes, name: str) -> PhotoScores:
    """Every promoted attribute's calibrated label probabilities for one uploaded photo."""
    from mlcore.data.images import ImageError, decode_image

    promoted = models_for(dataset)
    check_photo(data, name)
    try:
        photo = decode_image(data, name=name)
    except ImageError as exc:
        raise ClassifyError(str(exc)) from None
    crop = crop_photo(dataset, data, name, photo)
    seen = photo_crop(photo, crop.box) if crop is not None else photo
    attributes = [score_photo(CACHE.model(p), p, seen) for p in promoted]
    return PhotoScores(crop=crop, attributes=attributes)


def max_photo_bytes() -> int:
    return settings.CURATION_MAX_FILE_MB * 1024 * 1024


def check_photo(data: bytes, name: str) -> None:
    if len(data) > max_photo_bytes():
        limit = settings.CURATION_MAX_FILE_MB
        raise ClassifyError(f"{name}: the photo is larger than {limit} MB")
    facts = inspect_image(data, name=name, max_pixels=settings.CURATION_MAX_IMAGE_PIXELS)
    if isinstance(facts, Rejection):
        raise ClassifyError(f"{name}: {facts.reason}")


def crop_photo(dataset: Dataset, data: bytes, name: str, photo) -> Crop | None:
    """The dress box the dataset's localizer finds in the photo (`data`, decoded as
    `photo`); None without a localizer (or when it finds nothing)."""
    localizer = CACHE.localizer(dataset)
    if localizer is None:
        return None
    with tempfile.TemporaryDirectory(prefix="classify-") as tmp:
        path = Path(tmp) / f"photo{Path(name).suffix.lower()}"
        path.write_bytes(data)  # locate() reads URIs, as the index build does
        box = fill_boxes(localizer, [str(path)], [None])[0]
    if box is None:
        return None
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    preview = preview_jpeg(photo_crop(photo, (x0, y0, x1, y1)))
    return Crop((x0, y0, x1, y1), photo.width, photo.height, preview)


def photo_crop(photo, box: Sequence[float]):
    from mlcore.similarity.images import crop_to_box

    try:
        return crop_to_box(photo, box, margin=CROP_MARGIN)
    except ValueError:  # a degenerate box: classify the whole photo rather than nothing
        return photo


def score_photo(loaded: LoadedModel, promoted: PromotedModel, photo) -> AttributeScores:
    from mlcore.infer import predict_images

    saved = loaded.saved
    out = predict_images(saved.model, [photo], config=saved.config)
    raw = np.asarray(out.probs[:1], dtype=np.float64)  # (1, K)
    probs = apply_temperature(raw, run_temperature(promoted.run))[0]  # (K,)
    labels = sorted_labels(saved.label_names, probs)
    return AttributeScores(promoted.attribute.name, loaded.run_id, labels)


def sorted_labels(names: Sequence[str], probs: Sequence[float]) -> list[LabelProbability]:
    pairs = [LabelProbability(n, float(p)) for n, p in zip(names, probs, strict=True)]
    return sorted(pairs, key=lambda lp: -lp.probability)


def catalog_scores(dataset: Dataset, image_ids: Sequence[int]) -> list[ImageScores]:
    """Stored scores of catalog images of `dataset`, every label, in the order asked."""
    promoted = models_for(dataset)
    ids = list(dict.fromkeys(image_ids))
    if not ids:
        raise ClassifyError("give at least one image id")
    if len(ids) > MAX_IMAGES:
        raise ClassifyError(f"at most {MAX_IMAGES} images per call, not {len(ids)}")
    known = set(Image.objects.filter(dataset=dataset, pk__in=ids).values_list("id", flat=True))
    missing = [i for i in ids if i not in known]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise ClassifyError(f"no image {shown} in '{dataset.name}'")
    found = scores_for_images(ids, dataset_id=dataset.pk, top=10_000)
    out = []
    for image_id in ids:
        scores = found.get(image_id, [])
        attributes = [
            AttributeScores(
                s.attribute,
                s.run_id,
                [LabelProbability(t.name, t.probability) for t in s.top],
            )
            for s in scores
        ]
        done = {s.attribute_id for s in scores}
        unscored = [p.attribute.name for p in promoted if p.attribute_id not in done]
        out.append(ImageScores(image_id, attributes, unscored))
    return out
