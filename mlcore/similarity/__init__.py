"""Similar-item search: localize and crop, embed, index, search, evaluate.

The pieces a caller strings together (each module says more):
- localize: `fit_localizer` -> `locate` boxes -> `crop_to_box`;
- embed: `pretrained_embedder` / `classifier_embedder` / `fit_triplets` + `triplet_embedder`,
  then `embed_images` (optionally with the boxes);
- index: `VectorIndex` (add, remove, search, save / load);
- search: `similar`, `differs_search` over a `LabelTable`;
- triplets and evaluate: training triplets and the quality numbers.
"""

from mlcore.similarity.embed import (
    Embedder,
    Embeddings,
    TripletConfig,
    TripletFitResult,
    classifier_embedder,
    embed_images,
    fit_triplets,
    pretrained_embedder,
    triplet_embedder,
)
from mlcore.similarity.index import IndexConfig, SearchResult, VectorIndex
from mlcore.similarity.localize import (
    LocalizeConfig,
    LocalizeFitResult,
    LocalizerModel,
    Located,
    crop_to_box,
    evaluate_boxes,
    fit_localizer,
    load_localizer,
    locate,
)
from mlcore.similarity.search import DiffersResult, LabelTable, differs_search, similar

__all__ = [
    "DiffersResult",
    "Embedder",
    "Embeddings",
    "IndexConfig",
    "LabelTable",
    "LocalizeConfig",
    "LocalizeFitResult",
    "Located",
    "LocalizerModel",
    "SearchResult",
    "TripletConfig",
    "TripletFitResult",
    "VectorIndex",
    "classifier_embedder",
    "crop_to_box",
    "differs_search",
    "embed_images",
    "evaluate_boxes",
    "fit_localizer",
    "fit_triplets",
    "load_localizer",
    "locate",
    "pretrained_embedder",
    "similar",
    "triplet_embedder",
]
