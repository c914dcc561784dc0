"""Image items -> uint8 batches: decoding, presets, the decoded cache, labels CSVs."""

from mlcore.data.dataset import Batch, ImageItemsDataset, collate_skipping
from mlcore.data.images import ImageError, load_image
from mlcore.data.transforms import BatchAugment, BatchPrep, EvalPreset, TrainPreset

__all__ = [
    "Batch",
    "BatchAugment",
    "BatchPrep",
    "EvalPreset",
    "ImageError",
    "ImageItemsDataset",
    "TrainPreset",
    "collate_skipping",
    "load_image",
]
