"""Train/test splits: assigned once per product, then fixed forever.

The database refuses any change (see migrations/0002_integrity_triggers.py); the one legal
move is `move_product_split`, which leaves an audit record.
"""

from __future__ import annotations

import hashlib

from django.db import transaction

from curation.models import Dataset, Image, Product, Split, SplitMove


def assign_split(*, salt: str, test_fraction: float, product_key: str) -> str:
    """Deterministic split for a product the manifest gives none for.

    Uses a hash of the dataset's salt and the key, so the answer never depends on import
    order, batch size or which machine runs the import.
    """
    digest = hashlib.sha256(f"{salt}\x00{product_key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return Split.TEST if u < test_fraction else Split.TRAIN


@transaction.atomic
def move_product_split(
    *, dataset: Dataset, product_key: str, to_split: str, reason: str, actor: str
) -> SplitMove:
    """Move one product (and all its images) to the other split, for a taxonomy change.

    Comparisons between runs trained before and after the move are no longer like for like;
    the SplitMove row records who did it and why.
    """
    if to_split not in Split.values:
        raise ValueError(f"split must be one of {', '.join(Split.values)}, not '{to_split}'")
    if not reason.strip():
        raise ValueError("a reason is required for a split move")
    product = Product.objects.select_for_update().get(dataset=dataset, key=product_key)
    if product.split == to_split:
        raise ValueError(f"product '{product_key}' is already in the {to_split} split")
    move = SplitMove.objects.create(
        product=product, old_split=product.split, new_split=to_split, reason=reason, actor=actor
    )
    Product.objects.filter(pk=product.pk).update(split=to_split)
    Image.objects.filter(product_id=product.pk).update(split=to_split)
    SplitMove.objects.filter(pk=move.pk).update(pending=False)
    move.pending = False
    return move
