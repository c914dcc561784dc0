"""Dress localization, TiefVision style: a foreground/background crop classifier and a
bounding-box regressor on one shared backbone, combined to crop the dress.

`locate` runs, per image (all coordinates normalised to [0, 1] of the squashed image):
1. the regressor on the whole image -> box r0;
2. the regressor again on r0 grown by `context` -> a finer box r1 (it is trained on such
   context crops as well as on whole images);
3. the classifier scores the crops r1, r0 and the whole image; the most "foreground" one
   wins (a whole-image dress, or a failed regression, falls back to the whole image).
A crop counts as foreground when its IoU with the true box is >= `positive_iou`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from mlcore.config import TrainConfig
from mlcore.data.dataset import readable_batches
from mlcore.data.transforms import BatchPrep
from mlcore.device import autocast, resolve_device, training_device
from mlcore.models import build_model, channels_last_ok, input_stats, place_model
from mlcore.similarity.images import Box, crop_to_box, decode_views, iter_views
from mlcore.similarity.optim import optimizer_and_scheduler
from mlcore.storage import S3Options
from mlcore.train.checkpoint import seed_everything
from mlcore.train.engine import TrainProgress
from mlcore.train.resume import CheckpointKind, CheckpointMirror, EpochRecord, digest, epoch_seed

__all__ = [
    "BoxScores",
    "LocalizeConfig",
    "LocalizeFitResult",
    "Located",
    "Localizer",
    "LocalizerModel",
    "box_iou",
    "crop_to_box",
    "evaluate_boxes",
    "fit_localizer",
    "load_localizer",
    "locate",
]
LOCALIZER = CheckpointKind("localizer", inputs_name="images or boxes")


@dataclass
class LocalizeConfig:
    arch: str = "efficientnet_lite0"  # resnet18 / resnet50 / efficientnet_lite0
    pretrained: bool = True  # efficientnet_lite0: start from the ImageNet weights
    image_size: int = 128  # side of the crops the network sees
    source_size: int | None = None  # side images are decoded at; None: 2 x image_size
    small_stem: bool = False
    width: int = 64  # ResNet base channels
    epochs: int = 10
    batch_size: int = 32  # images per step (each gives one box crop and two scored crops)
    lr: float = 1e-3  # AdamW peak, warmup then cosine
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    positive_iou: float = 0.5  # a crop with at least this IoU with the box is foreground
    context: float = 1.3  # second regression pass: first box grown by this factor
    box_loss_weight: float = 5.0  # L1 on [0, 1] corners is ~10x smaller than the BCE
    amp: bool = True  # bf16 autocast on CUDA
    num_workers: int = 0  # decode workers
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    device: str = "auto"
    seed: int = 0
    progress_every: int = 10

    @property
    def decode_size(self) -> int:
        return self.source_size or 2 * self.image_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalizeConfig:
        """Inverse of to_dict; unknown keys are ignored, missing ones take defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def backbone_config(self) -> TrainConfig:
        """The TrainConfig of the shared backbone: every field of the same name copied (and
        validated)."""
        config = TrainConfig.from_dict(self.to_dict())
        config.validate()
        if not 0 < self.positive_iou < 1 or self.context < 1:
            raise ValueError("LocalizeConfig: need 0 < positive_iou < 1 and context >= 1.")
        return config


class Localizer(nn.Module):
    """Shared backbone, a box head and a foreground head."""

    def __init__(self, backbone: nn.Module, num_features: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.box_head = nn.Linear(num_features, 4)
        self.fg_head = nn.Linear(num_features, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, S, S) normalised -> (boxes (B, 4) (x0, y0, x1, y1) in [0, 1] of the
        input, foreground logits (B,))."""
        f = self.backbone(x)  # (B, F)
        c = self.box_head(f).float().sigmoid()  # (B, 4) centre x, y, width, height
        half = c[:, 2:] / 2
        return torch.cat([c[:, :2] - half, c[:, :2] + half], 1), self.fg_head(f).float()[:, 0]


@dataclass
class LocalizerModel:
    net: Localizer  # in eval mode
    config: LocalizeConfig

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device


@dataclass
class LocalizeFitResult:
    model: LocalizerModel
    epochs_done: int
    cancelled: bool
    history: list[EpochRecord]
    checkpoint_path: Path | None
    resumed_from: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uri, reason)


@dataclass
class Located:
    boxes: np.ndarray  # (N', 4) float32 (x0, y0, x1, y1) pixels of the original image
    scores: np.ndarray  # (N',) float32 foreground probability of the chosen crop
    indices: np.ndarray  # (N',) int64 positions in the URI list
    skipped: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class BoxScores:
    mean_iou: float
    share_iou50: float  # share of boxes with IoU >= 0.5
    n: int


def box_iou(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """IoU of aligned pairs: a, b (N, 4) (x0, y0, x1, y1) -> (N,) float32."""
    a = torch.as_tensor(np.asarray(a, np.float32) if isinstance(a, np.ndarray) else a).float()
    b = torch.as_tensor(np.asarray(b, np.float32) if isinstance(b, np.ndarray) else b).float()
    return _iou(a.reshape(-1, 4), b.reshape(-1, 4)).cpu().numpy()


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    w = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    h = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = w * h
    area = lambda t: (t[:, 2] - t[:, 0]).clamp(min=0) * (t[:, 3] - t[:, 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp(min=1e-9)


def evaluate_boxes(pred: np.ndarray, true: np.ndarray) -> BoxScores:
    """pred, true: (N, 4) boxes in the same units -> mean IoU and share with IoU >= 0.5."""
    iou = box_iou(pred, true)
    if not iou.size:
        return BoxScores(float("nan"), float("nan"), 0)
    return BoxScores(float(iou.mean()), float((iou >= 0.5).mean()), int(iou.size))


def _crops(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """x (B, 3, H, H) float, boxes (K, 5) (image index, x0, y0, x1, y1 in [0, 1]) ->
    (K, 3, size, size) bilinear crops."""
    rois = boxes.clone()
    rois[:, 1:] *= x.shape[-1]
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)


def _grow(boxes: torch.Tensor, factor: float) -> torch.Tensor:
    """(B, 4) boxes scaled about their centres, clipped to [0, 1]."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1e-3) * factor / 2
    return torch.cat([centre - half, centre + half], 1).clamp(0, 1)


def _sample_views(
    boxes: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For true boxes (B, 4) in [0, 1]: context crops that contain the box (B, 4) (a third
    are the whole image), jittered box crops (B, 4) and random crops (B, 4)."""
    b = boxes.shape[0]
    u = torch.rand(b, 4, generator=g)
    context = torch.cat([boxes[:, :2] * u[:, :2], boxes[:, 2:] + (1 - boxes[:, 2:]) * u[:, 2:]], 1)
    whole = torch.rand(b, generator=g) < 1 / 3
    context[whole] = torch.tensor([0.0, 0.0, 1.0, 1.0])
    size = boxes[:, 2:] - boxes[:, :2]
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2 + (torch.rand(b, 2, generator=g) - 0.5) * 0.4 * size
    half = size * torch.exp((torch.rand(b, 2, generator=g) - 0.5) * 0.8) / 2
    jitter = torch.cat([centre - half, centre + half], 1).clamp(0, 1)
    wh = 0.15 + 0.85 * torch.rand(b, 2, generator=g)
    corner = torch.rand(b, 2, generator=g) * (1 - wh)
    random = torch.cat([corner, corner + wh], 1)
    return context, jitter, random


def _build(config: LocalizeConfig, *, load_weights: bool) -> Localizer:
    classifier = build_model(config.backbone_config(), 2, load_weights=load_weights)
    return Localizer(classifier.backbone, classifier.num_features)


def fit_localizer(
    config: LocalizeConfig,
    items: Sequence[tuple[str, Box]],
    *,
    out_dir: str | Path,
    progress: Callable[[TrainProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    resume: bool = True,
    s3: S3Options | None = None,
    mirror: CheckpointMirror | None = None,
) -> LocalizeFitResult:
    """Train on items [(path or s3 URI, dress box (x0, y0, x1, y1) in pixels)].

    Checkpoint, resume, progress and cancellation as in mlcore.train.fit: a checkpoint goes
    to out_dir/checkpoint.pt after every epoch, `should_cancel()` is asked before every step,
    and unreadable images are skipped and listed in the result.
    """
    config.backbone_config()  # validates
    device = training_device(config.device, num_threads=config.num_threads)
    uris = [str(u) for u, _ in items]
    inputs = digest(f"{u}\t{tuple(float(v) for v in b)}" for u, b in items)
    checkpoints = LOCALIZER.open(out_dir, config.to_dict(), inputs, resume=resume, mirror=mirror)
    views = decode_views(
        uris, size=config.decode_size, mode="squash", num_workers=config.num_workers, s3=s3
    )
    if not len(views):
        raise ValueError("No training image could be read; see the skipped list.")
    sizes = views.sizes.float()  # (N, 2) original width, height
    raw = torch.tensor([items[i][1] for i in views.indices.tolist()], dtype=torch.float32)
    boxes = (raw / sizes.repeat(1, 2)).clamp(0, 1)  # (N, 4) normalised
    bad = ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).nonzero()[:, 0]
    if bad.numel():
        i = int(views.indices[bad[0]])
        raise ValueError(f"items[{i}] ({uris[i]}): box {items[i][1]} is empty or off the image.")

    seed_everything(config.seed)
    net, channels_last = place_model(_build(config, load_weights=True), device)
    mean, std = input_stats(config.arch)
    prep = BatchPrep(mean=mean, std=std, channels_last=False)
    n, bs = len(views), min(config.batch_size, len(views))
    steps = n // bs
    optimizer, scheduler = optimizer_and_scheduler(net, config, steps=steps)
    start = checkpoints.resume(net, optimizer, scheduler)
    cache = views.images.to(device) if device.type == "cuda" else views.images
    cancelled = False
    for epoch in range(start, config.epochs):
        g = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
        order = torch.randperm(n, generator=g)
        net.train()
        t0, loss_sum, done = time.perf_counter(), torch.zeros((), device=device), 0
        for step in range(steps):
            if should_cancel is not None and should_cancel():
                cancelled = True
                break
            idx = order[step * bs : (step + 1) * bs]
            x = prep(cache[idx.to(cache.device)].to(device))  # (B, 3, H, H)
            target = boxes[idx].clone()  # (B, 4)
            flip = torch.rand(bs, generator=g) < 0.5
            x = torch.where(flip.to(device)[:, None, None, None], x.flip(-1), x)
            target[flip] = torch.stack(
                [1 - target[flip, 2], target[flip, 1], 1 - target[flip, 0], target[flip, 3]], 1
            )
            context, jitter, random = _sample_views(target, g)
            views_b = torch.cat([context, jitter, random])  # (3B, 4)
            rows = torch.arange(bs, dtype=torch.float32).repeat(3)[:, None]
            crops = _crops(x, torch.cat([rows, views_b], 1).to(device), config.image_size)
            if channels_last:
                crops = crops.contiguous(memory_format=torch.channels_last)
            span = (context[:, 2:] - context[:, :2]).repeat(1, 2)
            rel = ((target - context[:, :2].repeat(1, 2)) / span).to(device)  # (B, 4)
            fg = _iou(torch.cat([jitter, random]), target.repeat(2, 1)) >= config.positive_iou
            with autocast(device, config.amp):
                pred, logits = net(crops)
            loss = config.box_loss_weight * F.l1_loss(
                pred[:bs], rel
            ) + F.binary_cross_entropy_with_logits(logits[bs:], fg.float().to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach()
            done += 1
            if progress is not None and (done % config.progress_every == 0 or done == steps):
                elapsed = time.perf_counter() - t0
                left = (config.epochs - epoch - 1) * steps + steps - done
                progress(
                    TrainProgress(
                        epoch + 1,
                        config.epochs,
                        done,
                        steps,
                        loss_sum.item() / done,
                        done * bs / elapsed,
                        left * elapsed / done,
                    )
                )
        if cancelled:
            break
        seconds = time.perf_counter() - t0
        lr = optimizer.param_groups[0]["lr"]
        checkpoints.end_epoch(
            EpochRecord(epoch + 1, loss_sum.item() / max(done, 1), done * bs, done, seconds, lr)
        )
    net.eval()
    return LocalizeFitResult(
        model=LocalizerModel(net, config),
        cancelled=cancelled,
        skipped=[(uris[i], why) for i, why in views.skipped],
        **checkpoints.report(),
    )


def load_localizer(path: str | os.PathLike[str], *, device: str = "cpu") -> LocalizerModel:
    """A fit_localizer checkpoint, ready for `locate`."""
    ckpt = LOCALIZER.load(path)
    config = LocalizeConfig.from_dict(ckpt["config"])
    net = _build(config, load_weights=False)
    net.load_state_dict(ckpt["model"])
    net.to(resolve_device(device)).eval()
    return LocalizerModel(net, config)


def locate(
    model: LocalizerModel,
    uris: Sequence[str],
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    s3: S3Options | None = None,
) -> Located:
    """The dress box of each readable image (see the module docstring): N URIs ->
    Located(boxes (N', 4) float32 pixels of the original image, scores (N',), indices (N',))
    for the N' readable ones, in order; the rest in .skipped."""
    config, net, device = model.config, model.net, model.device
    mean, std = input_stats(config.arch)
    prep = BatchPrep(mean=mean, std=std, channels_last=False)
    channels_last = channels_last_ok(net, device)
    net.eval()

    def run(x: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.arange(x.shape[0], device=device, dtype=boxes.dtype)[:, None]
        crops = _crops(x, torch.cat([rows, boxes], 1), config.image_size)
        if channels_last:
            crops = crops.contiguous(memory_format=torch.channels_last)
        with autocast(device, config.amp):
            pred, logits = net(crops)
        return pred.float(), logits.float().sigmoid()

    out_boxes, out_scores, out_idx = [], [], []
    skipped: list[tuple[int, str]] = []
    with torch.inference_mode():
        views = iter_views(
            uris,
            size=config.decode_size,
            mode="squash",
            batch_size=batch_size,
            num_workers=num_workers,
            s3=s3,
        )
        for batch in readable_batches(views, skipped):
            x = prep(batch.images.to(device))  # (B, 3, H, H)
            whole = torch.tensor([[0.0, 0.0, 1.0, 1.0]], device=device).expand(len(batch), 4)
            r0, p_whole = run(x, whole)
            ctx = _grow(r0, config.context)
            rel, _ = run(x, ctx)
            span = (ctx[:, 2:] - ctx[:, :2]).repeat(1, 2)
            r1 = (ctx[:, :2].repeat(1, 2) + rel * span).clamp(0, 1)
            _, p1 = run(x, r1)
            _, p0 = run(x, r0)
            candidates = torch.stack([r1, r0, whole], 1)  # (B, 3, 4)
            probs = torch.stack([p1, p0, p_whole], 1)  # (B, 3)
            best = probs.argmax(1)
            chosen = candidates[torch.arange(len(batch), device=device), best]  # (B, 4)
            scale = batch.sizes.to(device).float().repeat(1, 2)  # (B, 4) w, h, w, h
            out_boxes.append((chosen * scale).cpu())
            out_scores.append(probs.max(1).values.cpu())
            out_idx.append(batch.indices)
    if not out_idx:
        return Located(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), skipped
        )
    return Located(
        torch.cat(out_boxes).numpy().astype(np.float32),
        torch.cat(out_scores).numpy().astype(np.float32),
        torch.cat(out_idx).numpy(),
        skipped,
    )
