"""People's look-alike judgements: `closer` looks more like `reference` than `farther`."""

from __future__ import annotations

from curation import roles
from curation.models import Image, Triplet
from curation.services.indexes import SimilarityError


def record_triplet(*, reference: Image, closer: Image, farther: Image, actor) -> Triplet:
    """A person's answer on the triplet page: `closer` looks more like `reference`."""
    roles.check(actor, "judge")
    ids = {reference.pk, closer.pk, farther.pk}
    if len(ids) != 3:
        raise SimilarityError("a triplet needs three different images")
    if {reference.dataset_id, closer.dataset_id, farther.dataset_id} != {reference.dataset_id}:
        raise SimilarityError("the three images must come from the same dataset")
    return Triplet.objects.create(
        dataset_id=reference.dataset_id,
        reference=reference,
        closer=closer,
        farther=farther,
        actor=actor,
    )
