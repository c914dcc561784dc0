"""Gold items: images whose answer a data scientist knows, mixed into reviewers' queues to
score each reviewer. A reviewer's gold answer is kept apart from the votes: it decides
nothing and never changes a label."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from curation import roles
from curation.models import Attribute, GoldAnswer, GoldItem, Image, Label
from curation.services.reviews import ReviewError


def mark_gold(*, image: Image, attribute: Attribute, answer: Label, actor) -> GoldItem:
    """Make `image` a gold item of `attribute` with `answer` (again: the answer changes;
    answers given before keep the score they got)."""
    roles.check(actor, "mark_gold")
    if image.dataset_id != attribute.dataset_id:
        raise ReviewError(f"image {image.pk} is not in dataset {attribute.dataset.name}")
    if answer.attribute_id != attribute.pk:
        raise ReviewError(f"'{answer.name}' is not a label of {attribute.name}")
    gold, _ = GoldItem.objects.update_or_create(
        attribute=attribute,
        image=image,
        defaults={"answer": answer, "created_by": actor},
    )
    return gold


def answer_gold(*, gold: GoldItem, label: Label, reviewer) -> GoldAnswer:
    """Record a reviewer's answer to a gold item, scored against its answer now."""
    roles.check(reviewer, "vote")
    if label.attribute_id != gold.attribute_id:
        raise ReviewError(f"'{label.name}' is not a label of this attribute")
    try:
        with transaction.atomic():
            return GoldAnswer.objects.create(
                gold=gold, reviewer=reviewer, label=label, correct=label.pk == gold.answer_id
            )
    except IntegrityError:
        raise ReviewError("you have already voted on this image") from None
