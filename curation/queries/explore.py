"""The dataset gallery's filters (the Explore sidebar), the page of images they select, and
what the sidebar lists: the dataset's tags and saved views.

A filter arrives as a query string (the sidebar submits by GET, so every filtered gallery
has a URL to share) and is read once, by ExploreFilter.parse, which answers a bad value with
params.BadParameter naming the parameter (a 400). to_query() writes it back in one canonical
form: what a saved view stores.

Built for a catalog of a million images: every condition is an equality or a range on an
indexed column, or an EXISTS probe through a unique index, after (dataset, status, split)
of the image_browse index; the page is keyset-paginated on id. Search by SKU or file name
is exact or prefix, never a substring scan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.http import urlencode

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageScore,
    ImageStatus,
    ImageTag,
    Label,
    Product,
    PromotedModel,
    RunImage,
    SavedView,
    Split,
    Tag,
)
from curation.params import BadParameter, parse_int

SEARCH_MAX = 255  # a product key's length; a file name prefix longer than that finds nothing
MAX_TAGS = 10  # tags in one filter (each is one EXISTS probe)
# A probability as people type it: 0, 1, 0.8, .75, 1.0 (at most 6 decimals).
_PROBABILITY = re.compile(r"(0|1)?(\.[0-9]{1,6})?")
# The highest code point: text + it is above every string that starts with text.
_TOP = "\U0010ffff"


def parse_probability(raw: str, name: str) -> float:
    """A confidence bound in [0, 1], from plain decimal text."""
    if not raw or raw == "." or not _PROBABILITY.fullmatch(raw) or float(raw) > 1:
        shown = ascii(raw[:20])
        raise BadParameter(name, f"{name} must be a number from 0 to 1 such as 0.8, not {shown}")
    return float(raw)


def prefix_match(field_name: str, text: str) -> Q:
    """Rows whose `field_name` starts with `text`, as a range an index can serve: LIKE
    'text%' on PostgreSQL (the varchar_pattern_ops indexes of migration 0018), a range on the
    binary-collated unique index on SQLite (whose LIKE ignores case and every index)."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field_name}__startswith": text})
    return Q(**{f"{field_name}__gte": text, f"{field_name}__lt": text + _TOP})


@dataclass
class ExploreFilter:
    attribute: Attribute | None = None  # the label, prediction and confidence filters' attribute
    label_id: int | None = None
    unlabelled: bool = False  # images whose `attribute` has no label
    predicted_id: int | None = None  # the attribute's promoted model predicts this label
    conf_min: float | None = None  # the promoted model's confidence in its prediction
    conf_max: float | None = None
    split: str | None = None
    status: str = ImageStatus.OK  # quarantined: the images import set aside
    tags: list[Tag] = field(default_factory=list)  # every one of them
    search: str = ""  # a product key (SKU) or file path: exact or prefix
    promoted_run_id: int | None = None  # set by parse when a prediction filter needs it

    @property
    def needs_model(self) -> bool:
        return (
            self.predicted_id is not None
            or self.conf_min is not None
            or (self.conf_max is not None)
        )

    @property
    def is_default(self) -> bool:
        return not self.to_query()

    @classmethod
    def parse(cls, query: Mapping[str, Any], dataset: Dataset, attributes: list[Attribute]):
        """The filter in `query` (request.GET or a parsed saved query); `attributes` are the
        dataset's, with their labels prefetched (catalog.attributes_with_labels)."""
        flt = cls()
        by_name = {a.name: a for a in attributes}
        label_of = {lab.pk: (a, lab) for a in attributes for lab in a.labels.all()}
        name = query.get("attribute") or ""
        if name:
            if name not in by_name:
                known = ", ".join(by_name) or "none"
                raise BadParameter(
                    "attribute", f"attribute must be one of this dataset's ({known}), not {name!r}"
                )
            flt.attribute = by_name[name]
        flt._read_label(query, "label", label_of)
        flt._read_label(query, "predicted", label_of)
        flt.conf_min = _bound(query, "conf_min")
        flt.conf_max = _bound(query, "conf_max")
        if flt.conf_min is not None and flt.conf_max is not None and flt.conf_min > flt.conf_max:
            raise BadParameter("conf_min", "conf_min must not be above conf_max")
        flt.split = _choice(query, "split", Split.values, default=None)
        flt.status = _choice(query, "status", ImageStatus.values, default=ImageStatus.OK)
        flt.tags = _tags(query, dataset)
        flt.search = (query.get("q") or "").strip()
        if len(flt.search) > SEARCH_MAX:
            raise BadParameter("q", f"q (a SKU or file name) must be at most {SEARCH_MAX} long")
        if flt.needs_model:
            flt.promoted_run_id = _promoted_run_id(flt.attribute)
        return flt

    def _read_label(self, query, key: str, label_of: dict[int, tuple[Attribute, Label]]) -> None:
        """?label= or ?predicted=: a label id of the dataset (its attribute is implied) or,
        for label, 'none'; a label of another attribute than ?attribute= is refused."""
        raw = query.get(key) or ""
        if not raw:
            return
        if key == "label" and raw == "none":
            if self.attribute is None:
                raise BadParameter("label", "label=none needs an attribute (?attribute=...)")
            self.unlabelled = True
            return
        label_id = parse_int(raw, key, low=1)
        if label_id not in label_of:
            raise BadParameter(key, f"{key} must be a label id of this dataset, not {ascii(raw)}")
        attribute, _ = label_of[label_id]
        if self.attribute is not None and self.attribute.pk != attribute.pk:
            raise BadParameter(
                key, f"{key} {label_id} is a label of {attribute.name}, not {self.attribute.name}"
            )
        self.attribute = attribute
        setattr(self, "label_id" if key == "label" else "predicted_id", label_id)

    def to_query(self) -> str:
        """The filter as a query string, in one order, defaults left out."""
        pairs: list[tuple[str, str]] = []
        if self.attribute is not None:
            pairs.append(("attribute", self.attribute.name))
        if self.unlabelled:
            pairs.append(("label", "none"))
        elif self.label_id is not None:
            pairs.append(("label", str(self.label_id)))
        if self.predicted_id is not None:
            pairs.append(("predicted", str(self.predicted_id)))
        if self.conf_min is not None:
            pairs.append(("conf_min", f"{self.conf_min:g}"))
        if self.conf_max is not None:
            pairs.append(("conf_max", f"{self.conf_max:g}"))
        if self.split:
            pairs.append(("split", self.split))
        if self.status != ImageStatus.OK:
            pairs.append(("status", self.status))
        pairs += [("tag", t.name) for t in sorted(self.tags, key=lambda t: t.name)]
        if self.search:
            pairs.append(("q", self.search))
        return urlencode(pairs)

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]


def _bound(query, key: str) -> float | None:
    raw = (query.get(key) or "").strip()
    return parse_probability(raw, key) if raw else None


def _choice(query, key: str, allowed: list[str], default):
    raw = query.get(key) or ""
    if not raw:
        return default
    if raw not in allowed:
        raise BadParameter(key, f"{key} must be one of {', '.join(allowed)}, not {ascii(raw[:20])}")
    return raw


def _tags(query, dataset: Dataset) -> list[Tag]:
    names = query.getlist("tag") if hasattr(query, "getlist") else query.get("tag") or []
    names = sorted({n.strip().lower() for n in names if n.strip()})
    if len(names) > MAX_TAGS:
        raise BadParameter("tag", f"tag may be given at most {MAX_TAGS} times")
    if not names:
        return []
    found = {t.name: t for t in Tag.objects.filter(dataset=dataset, name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise BadParameter("tag", f"tag {missing[0]!r} is not a tag of {dataset.name}")
    return [found[n] for n in names]


def _promoted_run_id(attribute: Attribute | None) -> int:
    if attribute is None:
        raise BadParameter(
            "conf_min",
            "conf_min / conf_max (a confidence range) need an attribute or a predicted label",
        )
    run_id = (
        PromotedModel.objects.filter(attribute_id=attribute.pk)
        .values_list("run_id", flat=True)
        .first()
    )
    if run_id is None:
        raise BadParameter(
            "predicted",
            f"{attribute.name} has no promoted model yet, so nothing is predicted to filter by",
        )
    return run_id


def filtered_images(dataset: Dataset, flt: ExploreFilter) -> QuerySet[Image]:
    qs = Image.objects.filter(dataset=dataset, status=flt.status)
    if flt.split:
        qs = qs.filter(split=flt.split)
    if flt.attribute is not None and flt.label_id is not None:
        qs = qs.filter(annotations__attribute=flt.attribute, annotations__label_id=flt.label_id)
    elif flt.attribute is not None and flt.unlabelled:
        qs = qs.filter(annotations__attribute=flt.attribute, annotations__label__isnull=True)
    if flt.promoted_run_id is not None:
        qs = qs.filter(_predicted(flt))
    for tag in flt.tags:
        qs = qs.filter(Exists(ImageTag.objects.filter(tag_id=tag.pk, image_id=OuterRef("pk"))))
    if flt.search:
        products = _products_matching(dataset, flt.search)
        qs = qs.filter(Q(product_id__in=products) | prefix_match("source_path", flt.search))
    return qs


def _products_matching(dataset: Dataset, text: str) -> QuerySet:
    """Products whose key (a SKU) is `text` or starts with it: (dataset, key) index range."""
    return Product.objects.filter(dataset=dataset).filter(prefix_match("key", text)).values("pk")


def _predicted(flt: ExploreFilter) -> Q:
    """The promoted model's prediction: from its own run's row for an image of that run
    (raw probability), else from the ImageScore a scoring job wrote (calibrated)."""
    conditions: dict[str, Any] = {"run_id": flt.promoted_run_id, "image_id": OuterRef("pk")}
    if flt.predicted_id is not None:
        conditions["predicted_label_id"] = flt.predicted_id
    if flt.conf_min is not None:
        conditions["confidence__gte"] = flt.conf_min
    if flt.conf_max is not None:
        conditions["confidence__lte"] = flt.conf_max
    in_run = RunImage.objects.filter(**conditions)
    scored = ImageScore.objects.filter(**conditions)
    return Q(Exists(in_run)) | Q(Exists(scored))


def explore_images(
    dataset: Dataset, flt: ExploreFilter, *, after: int | None = None, limit: int = 60
) -> tuple[list[Image], int | None]:
    """One page of the filtered images in id order, with their labels and tags (two
    queries for the whole page). Returns (images, next cursor)."""
    qs = filtered_images(dataset, flt)
    if after is not None:
        qs = qs.filter(id__gt=after)
    page = list(
        qs.order_by("id").prefetch_related(
            Prefetch(
                "annotations", queryset=Annotation.objects.select_related("label", "attribute")
            ),
            Prefetch("image_tags", queryset=ImageTag.objects.select_related("tag").order_by("id")),
        )[: limit + 1]
    )
    next_cursor = page[limit - 1].pk if len(page) > limit else None
    return page[:limit], next_cursor


def dataset_tags(dataset: Dataset) -> list[Tag]:
    return list(Tag.objects.filter(dataset=dataset).order_by("name"))


def image_tags(image: Image) -> list[ImageTag]:
    return list(
        ImageTag.objects.filter(image=image).select_related("tag", "by").order_by("tag__name")
    )


def saved_views(dataset: Dataset) -> list[SavedView]:
    """The dataset's saved views, for everyone who may see the dataset: names A-Z."""
    return list(
        SavedView.objects.filter(dataset=dataset)
        .select_related("owner", "dataset")
        .order_by("name", "id")
    )
