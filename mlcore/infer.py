"""Running a trained model over images: class probabilities and embeddings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from PIL import Image

from mlcore.config import TrainConfig
from mlcore.data.dataset import Batch, Item
from mlcore.data.loaders import eval_loader
from mlcore.data.transforms import BatchPrep, EvalPreset
from mlcore.models import Classifier, channels_last_ok, input_stats
from mlcore.storage import S3Options
from mlcore.train.engine import EvalOutput, evaluate


def predict_items(
    model: Classifier,
    items: Sequence[Item],
    *,
    config: TrainConfig,
    batch_size: int | None = None,
    num_workers: int | None = None,
    features: bool = False,
    s3: S3Options | None = None,
    on_batch: Callable[[int], bool] | None = None,
) -> EvalOutput:
    """items: [(path or URI, label or -1)] -> probs (N', K) for the N' readable images (and
    pooled features (N', D) when features=True), in item order; the rest in .skipped.
    Runs on the device the model is on, with the eval preset of `config`.

    on_batch(items done so far) is called after each batch; when it returns True the pass
    stops there (a cancel) and the output covers the items done."""
    device = next(model.parameters()).device
    mean, std = input_stats(config.arch)
    loader = eval_loader(
        items,
        config=config,
        batch_size=batch_size,
        num_workers=num_workers,
        s3=s3,
        pin_memory=device.type == "cuda",
    )
    return evaluate(
        model,
        loader if on_batch is None else _watched(loader, on_batch),
        device=device,
        prep=BatchPrep(
            mean=mean,
            std=std,
            channels_last=config.channels_last and channels_last_ok(model, device),
        ),
        amp=config.amp,
        features=features,
    )


def predict_images(
    model: Classifier, images: Sequence[Image.Image], *, config: TrainConfig
) -> EvalOutput:
    """Decoded RGB images already in memory (an uploaded photo, a crop of one) -> probs
    (N, K), through the same eval preset and batch prep as predict_items."""
    device = next(model.parameters()).device
    mean, std = input_stats(config.arch)
    preset = EvalPreset(size=config.image_size, crop_fraction=config.eval_crop_fraction)
    n = len(images)
    batch = Batch(
        torch.stack([preset(im) for im in images]),  # (N, 3, S, S) uint8
        torch.full((n,), -1, dtype=torch.int64),
        torch.arange(n, dtype=torch.int64),
    )
    prep = BatchPrep(
        mean=mean,
        std=std,
        channels_last=config.channels_last and channels_last_ok(model, device),
    )
    return evaluate(model, [batch], device=device, prep=prep, amp=config.amp)


def _watched(batches: Iterable[Batch], on_batch: Callable[[int], bool]) -> Iterator[Batch]:
    done = 0
    for batch in batches:
        yield batch
        done += len(batch) + len(batch.skipped)
        if on_batch(done):
            return


def embed_items(
    model: Classifier, items: Sequence[Item], *, config: TrainConfig, **kwargs: object
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N', D) float32, item positions (N',) int64) for similarity search."""
    out = predict_items(model, items, config=config, features=True, **kwargs)  # type: ignore[arg-type]
    assert out.features is not None
    return torch.from_numpy(out.features), torch.from_numpy(out.indices)
