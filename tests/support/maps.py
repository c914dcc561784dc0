"""A similarity index planted with two clusters of vectors, for embedding-map tests."""

from __future__ import annotations

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from curation.models import Image, SimilarityIndex
from mlcore.similarity import VectorIndex


def planted_index(dataset, *, dim: int = 8, seed: int = 0) -> tuple[list[int], list[int]]:
    """A ready index of the dataset's images: the first half near one direction, the rest
    near another. Returns (first cluster's image ids, second's)."""
    ids = sorted(Image.objects.filter(dataset=dataset).values_list("pk", flat=True))
    half = len(ids) // 2
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, dim), np.float32)
    centres[0, 0], centres[1, 1] = 1.0, 1.0
    vectors = np.stack([centres[int(i >= half)] for i in range(len(ids))])
    vectors += 0.02 * rng.normal(size=vectors.shape).astype(np.float32)
    index = VectorIndex(dim=dim)
    index.add(ids, vectors)
    key = default_storage.save("indexes/planted.faiss", ContentFile(index.to_bytes()))
    SimilarityIndex.objects.create(
        dataset=dataset,
        embedder="pretrained",
        status=SimilarityIndex.Status.READY,
        artifact=key,
        count=len(ids),
        dim=dim,
        kind=index.kind,
    )
    return ids[:half], ids[half:]
