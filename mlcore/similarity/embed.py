"""Embeddings for look-alike search: unit vectors from an image (or its dress crop).

Three kinds of `Embedder`, all (B, 3, S, S) normalised -> (B, D) L2-normalised:
- `pretrained_embedder`: pooled EfficientNet-Lite0 ImageNet features (unsupervised, D=1280);
- `classifier_embedder`: pooled features of a trained mlcore classifier;
- `triplet_embedder`: a DeepRank-style triplet net trained by `fit_triplets` (D=dim).
Images are letterboxed (aspect kept, never cut) to S x S, optionally after cropping to a box.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mlcore.config import TrainConfig
from mlcore.data.dataset import Batch, readable_batches
from mlcore.data.transforms import BatchAugment, BatchPrep
from mlcore.device import autocast, resolve_device, training_device
from mlcore.models import Classifier, build_model, channels_last_ok, input_stats, place_model
from mlcore.similarity.evaluate import triplet_accuracy
from mlcore.similarity.images import Box, decode_views, iter_views
from mlcore.similarity.optim import optimizer_and_scheduler
from mlcore.storage import S3Options
from mlcore.train.checkpoint import seed_everything
from mlcore.train.engine import TrainProgress, train_one_epoch
from mlcore.train.resume import CheckpointKind, CheckpointMirror, EpochRecord, digest, epoch_seed


class PooledEmbedding(nn.Module):
    """features (B, 3, S, S) -> (B, F), then L2 normalisation."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x).float(), dim=1)


class _ClassifierFeatures(nn.Module):
    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)  # (B, F)


class TripletNet(nn.Module):
    """Shared encoder + linear projection to `dim`, L2-normalised (DeepRank's ranking net,
    with one backbone in place of its multi-scale towers)."""

    def __init__(self, backbone: nn.Module, num_features: int, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = nn.Linear(num_features, dim)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, S, S) normalised -> (B, dim) float32 unit vectors."""
        return F.normalize(self.projection(self.backbone(x)).float(), dim=1)


class TripletLoss(nn.Module):
    """DeepRank hinge loss: mean of max(0, margin + |a - p|^2 - |a - n|^2).

    Takes the embeddings of a triplet batch stacked as [anchors; closer; farther] (3B, D);
    the second argument (labels, in mlcore's train_one_epoch) is ignored."""

    def __init__(self, margin: float) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, _labels: object = None) -> torch.Tensor:
        a, p, n = embeddings.float().chunk(3)  # (B, D) each
        closer = (a - p).pow(2).sum(1)  # (B,)
        farther = (a - n).pow(2).sum(1)
        return F.relu(self.margin + closer - farther).mean()


@dataclass
class Embedder:
    net: nn.Module  # in eval mode: (B, 3, S, S) normalised -> (B, D) unit vectors
    image_size: int  # S
    mean: tuple[float, float, float]  # input normalisation, [0, 1] units
    std: tuple[float, float, float]
    dim: int  # D
    kind: str  # "pretrained", "classifier" or "triplet"

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


@dataclass
class Embeddings:
    vectors: np.ndarray  # (N', D) float32, L2-normalised, one row per readable image
    indices: np.ndarray  # (N',) int64 positions in the URI list
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


def pretrained_embedder(
    *, image_size: int = 224, small_stem: bool = False, device: str = "auto"
) -> Embedder:
    """Unsupervised: pooled ImageNet EfficientNet-Lite0 features (D = 1280)."""
    config = TrainConfig(
        arch="efficientnet_lite0", image_size=image_size, small_stem=small_stem, pretrained=True
    )
    classifier = build_model(config, 1)
    return _ready(
        PooledEmbedding(classifier.backbone), config, classifier.num_features, "pretrained", device
    )


def classifier_embedder(
    uri: str | os.PathLike[str], *, device: str = "cpu", s3: S3Options | None = None
) -> Embedder:
    """Unsupervised: pooled features of a classifier saved by mlcore.store (a version URI or
    a fit() checkpoint file); D = its feature width."""
    from mlcore.store import load_model

    saved = load_model(uri, s3=s3)
    net = PooledEmbedding(_ClassifierFeatures(saved.model))
    return _ready(net, saved.config, saved.model.num_features, "classifier", device)


def triplet_embedder(path: str | os.PathLike[str], *, device: str = "cpu") -> Embedder:
    """The triplet net of a fit_triplets checkpoint (out_dir/checkpoint.pt)."""
    ckpt = TRIPLETS.load(path)
    config = TripletConfig.from_dict(ckpt["config"])
    net = build_triplet_net(config, load_weights=False)
    net.load_state_dict(ckpt["model"])
    return _ready(net, config.backbone_config(), config.dim, "triplet", device)


def _ready(net: nn.Module, config: TrainConfig, dim: int, kind: str, device: str) -> Embedder:
    mean, std = input_stats(config.arch)
    net.to(resolve_device(device)).eval()
    return Embedder(net, config.image_size, mean, std, dim, kind)


def embed_batch(embedder: Embedder, images: torch.Tensor, *, amp: bool = True) -> torch.Tensor:
    """images: (B, 3, S, S) uint8 (any device) -> (B, D) float32 unit vectors on the CPU."""
    device = embedder.device
    prep = BatchPrep(
        mean=embedder.mean, std=embedder.std, channels_last=channels_last_ok(embedder.net, device)
    )
    embedder.net.eval()
    with torch.inference_mode(), autocast(device, amp):
        out = embedder.net(prep(images.to(device)))  # (B, D)
    return F.normalize(out.float(), dim=1).cpu()


def embed_images(
    embedder: Embedder,
    uris: Sequence[str],
    *,
    boxes: Sequence[Box | None] | None = None,
    margin: float = 0.05,
    batch_size: int = 64,
    num_workers: int = 0,
    s3: S3Options | None = None,
) -> Embeddings:
    """Embed N images by path or s3 URI -> Embeddings(vectors (N', D) float32 unit rows,
    indices (N',) int64) for the N' readable ones, in order; the rest in .skipped.
    boxes[i] ((x0, y0, x1, y1) pixels, e.g. Located.boxes) crops image i first, grown by
    `margin`."""
    vectors: list[torch.Tensor] = []
    indices: list[torch.Tensor] = []
    skipped: list[tuple[int, str]] = []
    views = iter_views(
        uris,
        size=embedder.image_size,
        mode="letterbox",
        boxes=boxes,
        margin=margin,
        batch_size=batch_size,
        num_workers=num_workers,
        s3=s3,
    )
    for batch in readable_batches(views, skipped):
        vectors.append(embed_batch(embedder, batch.images))
        indices.append(batch.indices)
    if not vectors:
        return Embeddings(np.zeros((0, embedder.dim), np.float32), np.zeros(0, np.int64), skipped)
    return Embeddings(torch.cat(vectors).numpy(), torch.cat(indices).numpy(), skipped)


def embed_decoded(embedder: Embedder, images: torch.Tensor, *, batch_size: int = 128) -> np.ndarray:
    """images: (N, 3, S, S) uint8 -> (N, D) float32 unit vectors."""
    parts = [
        embed_batch(embedder, images[i : i + batch_size]) for i in range(0, len(images), batch_size)
    ]
    return torch.cat(parts).numpy() if parts else np.zeros((0, embedder.dim), np.float32)


# ---- triplet training --------------------------------------------------------------------
TRIPLETS = CheckpointKind("triplet", inputs_name="images or triplets")


@dataclass
class TripletConfig:
    arch: str = "efficientnet_lite0"  # resnet18 / resnet50 / efficientnet_lite0
    pretrained: bool = True  # efficientnet_lite0: start from the ImageNet weights
    weights_path: str | None = None  # or start from a trained classifier's checkpoint
    image_size: int = 128  # S
    small_stem: bool = False
    width: int = 64  # ResNet base channels
    dim: int = 128  # D, the embedding size
    margin: float = 0.2  # hinge margin, on squared distances of unit vectors (range [0, 4])
    epochs: int = 10
    batch_size: int = 32  # triplets per step: 3x as many images
    lr: float = 3e-3  # AdamW peak, warmup then cosine (beat 5e-4 and 1e-4 in the bench)
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    # Every view is randomly re-cropped (area in crop_scale) and flipped: in a (i, i, j)
    # triplet the closer image is thus a re-cropped / flipped copy of the reference.
    crop_scale: tuple[float, float] = (0.6, 1.0)
    hflip: bool = True
    amp: bool = True  # bf16 autocast on CUDA
    channels_last: bool = True
    num_workers: int = 0  # decode workers
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    device: str = "auto"
    seed: int = 0
    progress_every: int = 10

    def backbone_config(self) -> TrainConfig:
        """The TrainConfig of the encoder: every field of the same name copied (and
        validated)."""
        config = TrainConfig.from_dict(self.to_dict())
        config.validate()
        if self.dim < 1 or self.margin <= 0:
            raise ValueError(
                f"TripletConfig: need dim >= 1 and margin > 0 ({self.dim}, {self.margin})."
            )
        return config

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TripletConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "crop_scale" in kwargs:
            kwargs["crop_scale"] = tuple(kwargs["crop_scale"])
        return cls(**kwargs)


def build_triplet_net(config: TripletConfig, *, load_weights: bool = True) -> TripletNet:
    classifier = build_model(config.backbone_config(), 1, load_weights=load_weights)
    return TripletNet(classifier.backbone, classifier.num_features, config.dim)


@dataclass
class TripletFitResult:
    embedder: Embedder  # the trained net, in eval mode, on the training device
    config: TripletConfig
    epochs_done: int
    cancelled: bool
    history: list[EpochRecord]
    checkpoint_path: Path | None  # the last checkpoint written (kept when cancelled)
    resumed_from: int = 0
    accuracy: float | None = None  # on eval_triplets, when given and not cancelled
    skipped: list[tuple[str, str]] = field(default_factory=list)  # unreadable (uri, reason)
    dropped_triplets: int = 0  # training triplets naming an unreadable image


def _triplet_batches(
    cache: torch.Tensor, triplets: torch.Tensor, *, batch_size: int, steps: int, seed: int
) -> Iterator[Batch]:
    """Batches of [anchors; closer; farther] images (3B, 3, S, S) uint8, shuffled by seed."""
    order = torch.randperm(triplets.shape[0], generator=torch.Generator().manual_seed(seed))
    for step in range(steps):
        chosen = triplets[order[step * batch_size : (step + 1) * batch_size]]  # (B, 3)
        rows = chosen.t().reshape(-1)  # (3B,)
        images = cache.index_select(0, rows.to(cache.device))
        yield Batch(images, torch.zeros(rows.shape[0], dtype=torch.int64), rows)


def fit_triplets(
    config: TripletConfig,
    uris: Sequence[str],
    triplets: np.ndarray | Sequence[tuple[int, int, int]],
    *,
    out_dir: str | Path,
    eval_triplets: np.ndarray | Sequence[tuple[int, int, int]] | None = None,
    boxes: Sequence[Box | None] | None = None,
    progress: Callable[[TrainProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = True,
    s3: S3Options | None = None,
    mirror: CheckpointMirror | None = None,
) -> TripletFitResult:
    """Train a TripletNet on triplets (T, 3) of positions in `uris`: (reference, closer,
    farther); see mlcore.similarity.triplets for automatic and human sources.

    boxes[i], when given, crops image i first (as embed_images does). Checkpoint, resume
    (bit-identical on the CPU), `progress(TrainProgress)` and `should_cancel()` (asked
    before every step) work as in mlcore.train.fit. eval_triplets (T', 3), positions in
    `uris` too, give the held-out triplet accuracy.
    """
    config.backbone_config()  # validates
    device = training_device(config.device, num_threads=config.num_threads)
    uris = [str(u) for u in uris]
    train = _positions(triplets, len(uris), "triplets")
    held = (
        _positions(eval_triplets, len(uris), "eval_triplets") if eval_triplets is not None else None
    )
    inputs = digest([*uris, repr(list(boxes or [])), hashlib.sha256(train.tobytes()).hexdigest()])
    checkpoints = TRIPLETS.open(out_dir, config.to_dict(), inputs, resume=resume, mirror=mirror)
    views = decode_views(
        uris,
        size=config.image_size,
        mode="letterbox",
        boxes=boxes,
        num_workers=config.num_workers,
        s3=s3,
    )
    slot = np.full(len(uris), -1, np.int64)  # uri position -> cache row
    slot[views.indices.numpy()] = np.arange(len(views))
    rows = slot[train]  # (T, 3)
    usable = (rows >= 0).all(1)
    if not usable.any():
        raise ValueError("No training triplet has three readable images; see the skipped list.")
    t = torch.from_numpy(rows[usable])

    seed_everything(config.seed)
    net, channels_last = place_model(
        build_triplet_net(config), device, channels_last=config.channels_last
    )
    mean, std = input_stats(config.arch)
    augment = BatchAugment(size=config.image_size, scale=config.crop_scale, hflip=config.hflip)
    prep = BatchPrep(mean=mean, std=std, channels_last=channels_last, augment=augment)
    bs = min(config.batch_size, t.shape[0])
    steps = t.shape[0] // bs
    optimizer, scheduler = optimizer_and_scheduler(net, config, steps=steps)
    start = checkpoints.resume(net, optimizer, scheduler)
    cache = views.images.to(device) if device.type == "cuda" else views.images
    criterion = TripletLoss(config.margin)
    cancelled = False
    for epoch in range(start, config.epochs):
        seed = epoch_seed(config.seed, epoch)
        stats = train_one_epoch(
            net,
            _triplet_batches(cache, t, batch_size=bs, steps=steps, seed=seed),
            criterion,
            optimizer,
            device=device,
            prep=prep,
            scheduler=scheduler,
            generator=torch.Generator().manual_seed(seed + 1),
            amp=config.amp,
            epoch=epoch + 1,
            epochs=config.epochs,
            steps=steps,
            progress=progress,
            progress_every=config.progress_every,
            should_cancel=should_cancel,
        )
        if stats.cancelled:
            cancelled = True
            break
        checkpoints.end_epoch(EpochRecord.from_stats(stats))
    net.eval()
    embedder = Embedder(net, config.image_size, mean, std, config.dim, "triplet")
    result = TripletFitResult(
        embedder=embedder,
        config=config,
        cancelled=cancelled,
        skipped=[(uris[i], why) for i, why in views.skipped],
        dropped_triplets=int((~usable).sum()),
        **checkpoints.report(),
    )
    if held is not None and not cancelled:
        held_rows = slot[held]
        held_rows = held_rows[(held_rows >= 0).all(1)]
        vectors = embed_decoded(embedder, views.images)
        result.accuracy = triplet_accuracy(vectors, held_rows)
    return result


def _positions(triplets: object, n: int, what: str) -> np.ndarray:
    """(T, 3) int64 positions, each checked to lie in [0, n)."""
    arr = np.asarray(triplets, dtype=np.int64)
    if arr.size == 0:
        raise ValueError(f"{what} is empty.")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{what} must have shape (T, 3), got {arr.shape}.")
    bad = np.flatnonzero(((arr < 0) | (arr >= n)).any(1))
    if bad.size:
        raise ValueError(
            f"{what}[{bad[0]}] = {arr[bad[0]].tolist()}: positions must be in [0, {n})."
        )
    return arr
