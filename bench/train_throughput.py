"""Training throughput: mlcore's train_one_epoch with its data path vs a bare PyTorch loop.

    .venv/bin/python bench/train_throughput.py              # CPU: ResNet-18, Fashion-MNIST
    .venv/bin/python bench/train_throughput.py --cuda       # + ResNet-50 224 px AMP on JPEGs

Both sides train the same model (same init), on the same images, with the same batch size,
precision, optimizer, memory format and augmentation arithmetic (random resized crop +
flip as one affine grid_sample); the bare loop is what one would write by hand around the
same uint8 tensor. Runs interleave (bare, mlcore, mlcore, bare, ...) so that load from
other processes hits both alike; the best run of each counts. Goal: ratio >= 0.9.

On CUDA (only when one is present) ResNet-50 at 224 px with bf16 autocast trains from JPEG
files in a temporary folder, decoded by DataLoader workers: mlcore's file path against a
hand-written torchvision loop; the share of time spent waiting for data is reported.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESNET18_CPU, fashion_mnist_labels  # noqa: E402
from mlcore.config import TrainConfig  # noqa: E402
from mlcore.data.loaders import TrainData  # noqa: E402
from mlcore.models import build_model, input_stats, place_model  # noqa: E402
from mlcore.train.trainer import ClassifierTrainer  # noqa: E402

CPU_CONFIG = replace(RESNET18_CPU, device="cpu", progress_every=10)


def mlcore_run(config: TrainConfig, data: TrainData, device: torch.device, epoch: int) -> dict:
    """One epoch through mlcore's own pieces, wired as fit() wires them."""
    torch.manual_seed(config.seed)
    trainer = ClassifierTrainer.build(config, data, 10)
    stats = trainer.train_epoch(epoch, seed=epoch, progress=lambda p: None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"images_per_s": stats.images / stats.seconds, "wait": stats.data_wait_s / stats.seconds}


def bare_sgd(model: torch.nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """The optimizer a hand-written loop would use: Nesterov SGD, decay on every weight."""
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=0.9,
        nesterov=True,
        weight_decay=config.weight_decay,
    )


def bare_cached_run(
    config: TrainConfig,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device,
    epoch: int,
) -> dict:
    """The hand-written loop over the same uint8 tensor."""
    torch.manual_seed(config.seed)
    model, cl = place_model(build_model(config, 10), device, channels_last=config.channels_last)
    model.train()
    optimizer = bare_sgd(model, config)
    mean = torch.tensor(input_stats(config.arch)[0], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(input_stats(config.arch)[1], device=device).view(1, 3, 1, 1) * 255
    images = images.to(device)
    g = torch.Generator().manual_seed(epoch)
    order = torch.randperm(len(labels), generator=g)
    bs, size = config.batch_size, config.image_size
    lo_area, hi_area = config.crop_scale
    start = time.perf_counter()
    done = 0
    for step in range(len(labels) // bs):
        idx = order[step * bs : (step + 1) * bs]
        x = (images[idx.to(device)].float() - mean) / std
        # random resized crop + flip, one affine grid per image
        area = torch.empty(bs).uniform_(lo_area, hi_area, generator=g)
        aspect = torch.empty(bs).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g).exp()
        w, h = (area * aspect).sqrt().clamp(max=1), (area / aspect).sqrt().clamp(max=1)
        theta = torch.zeros(bs, 2, 3)
        theta[:, 0, 0] = w * torch.where(torch.rand(bs, generator=g) < 0.5, -1.0, 1.0)
        theta[:, 0, 2] = (torch.rand(bs, generator=g) * 2 - 1) * (1 - w)
        theta[:, 1, 1] = h
        theta[:, 1, 2] = (torch.rand(bs, generator=g) * 2 - 1) * (1 - h)
        grid = F.affine_grid(theta.to(device), [bs, 3, size, size], align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        y = labels[idx].to(device)
        with torch.autocast(
            "cuda", dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda"
        ):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += bs
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"images_per_s": done / (time.perf_counter() - start), "wait": 0.0}


def bare_files_run(config: TrainConfig, items: list, device: torch.device, epoch: int) -> dict:
    """The usual torchvision reference loop: PIL decode + transforms in workers."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision.transforms import v2

    mean, std = input_stats(config.arch)
    transform = v2.Compose(
        [
            v2.RandomResizedCrop(config.image_size, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )

    class Files(Dataset):
        def __len__(self) -> int:
            return len(items)

        def __getitem__(self, i: int):
            path, label = items[i]
            return transform(Image.open(path).convert("RGB")), label

    loader = DataLoader(
        Files(),
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=config.num_workers,
        pin_memory=True,
        generator=torch.Generator().manual_seed(epoch),
        prefetch_factor=4,
    )
    torch.manual_seed(config.seed)
    model = build_model(config, 10).to(device).to(memory_format=torch.channels_last).train()
    optimizer = bare_sgd(model, config)
    start, done, wait = time.perf_counter(), 0, 0.0
    t0 = time.perf_counter()
    for x, y in loader:
        wait += time.perf_counter() - t0
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += len(y)
        t0 = time.perf_counter()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {"images_per_s": done / elapsed, "wait": wait / elapsed}


def jpeg_items(n: int, folder: Path) -> list[tuple[str, int]]:
    """n 256x256 JPEGs of smooth random colour fields, labels 0..9."""
    from PIL import Image

    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((256, 256), Image.Resampling.BILINEAR)
        path = folder / f"{i:05d}.jpg"
        image.save(path, quality=90)
        items.append((str(path), i % 10))
    return items


def table(title: str, results: dict[str, list[dict]]) -> None:
    bare = max(r["images_per_s"] for r in results["bare"])
    ours = max(r["images_per_s"] for r in results["mlcore"])
    wait = min(r["wait"] for r in results["mlcore"])
    print(f"\n{title}")
    print(f"{'loop':<10} {'images/s (best)':>16} {'all runs':>28} {'data wait':>10}")
    for name in ("bare", "mlcore"):
        runs = " ".join(f"{r['images_per_s']:.0f}" for r in results[name])
        share = f"{wait:.1%}" if name == "mlcore" else "-"
        print(
            f"{name:<10} {max(r['images_per_s'] for r in results[name]):>16.0f} "
            f"{runs:>28} {share:>10}"
        )
    print(f"ratio mlcore / bare: {ours / bare:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=6400, help="images per run (CPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cuda", action="store_true", help="also the CUDA benchmark")
    parser.add_argument("--cuda-images", type=int, default=8192)
    args = parser.parse_args()

    cpu = torch.device("cpu")
    items = fashion_mnist_labels().train[: args.limit]
    data = TrainData(items, config=CPU_CONFIG, device=cpu)
    assert data.cache is not None
    results: dict[str, list[dict]] = {"bare": [], "mlcore": []}
    for r in range(args.repeats):
        for name in sorted(results, reverse=r % 2 == 1):  # alternate who goes first
            if name == "bare":
                run = bare_cached_run(CPU_CONFIG, data.cache.images, data.cache.labels, cpu, r)
            else:
                run = mlcore_run(CPU_CONFIG, data, cpu, r)
            results[name].append(run)
        print(
            f"run {r + 1}: bare {results['bare'][-1]['images_per_s']:.0f} img/s, "
            f"mlcore {results['mlcore'][-1]['images_per_s']:.0f} img/s",
            file=sys.stderr,
        )
    table(
        f"CPU, {torch.get_num_threads()} threads: ResNet-18 small-stem width 32, 28 px "
        f"Fashion-MNIST, batch {CPU_CONFIG.batch_size}, float32, decoded cache, "
        f"{len(items)} images per run",
        results,
    )

    if not (args.cuda and torch.cuda.is_available()):
        return
    gpu = torch.device("cuda")
    workers = min(16, os.cpu_count() or 4)
    config = TrainConfig(
        arch="resnet50",
        image_size=224,
        batch_size=128,
        amp=True,
        cache_decoded=False,
        num_workers=workers,
        device="cuda",
        lr=0.1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        jpegs = jpeg_items(args.cuda_images, Path(tmp))
        gdata = TrainData(jpegs, config=config, device=gpu)
        results = {"bare": [], "mlcore": []}
        for r in range(2):
            results["bare"].append(bare_files_run(config, jpegs, gpu, r))
            results["mlcore"].append(mlcore_run(config, gdata, gpu, r))
        table(
            f"CUDA {torch.cuda.get_device_name()}: ResNet-50, 224 px JPEGs, bf16 autocast, "
            f"batch 128, {workers} decode workers, {len(jpegs)} images per run",
            results,
        )


if __name__ == "__main__":
    main()
