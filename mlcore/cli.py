"""`python -m mlcore train | evaluate | predict`.

Bad input (unknown attribute, missing file, no training rows, a weights file that does
not fit) ends with exit code 2 and one line on stderr, never a traceback. Under torchrun,
`train` runs data-parallel; rank 0 alone saves and prints.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from mlcore.config import TrainConfig
from mlcore.data.images import ImageError
from mlcore.storage import S3Options, is_s3, read_bytes

PREDICT_CHUNK = 512  # images per inference pass; bounds memory for long path lists


class CliError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _s3_options(args: argparse.Namespace) -> S3Options:
    return S3Options.from_env(endpoint_url=args.s3_endpoint_url)


# -- train ------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from mlcore.data.labels_csv import read_labels_csv
    from mlcore.store import save_model
    from mlcore.train import distributed, fit

    s3 = _s3_options(args)
    labels = args.labels.split(",") if args.labels else None
    data = read_labels_csv(args.data, attribute=args.attribute, label_names=labels, s3=s3)
    if not data.train:
        raise CliError(
            f"{args.data}: no training rows for {args.attribute!r} (rows with split=train or "
            f"no split and a non-empty {args.attribute!r} value)"
        )
    if len(data.label_names) < 2:
        raise CliError(
            f"{args.data}: {args.attribute!r} has {len(data.label_names)} distinct label(s) "
            f"{data.label_names}; a classifier needs at least two"
        )
    # The options named after a TrainConfig field set it; these are renamed or derived.
    config = TrainConfig.from_dict(
        {
            **vars(args),
            "weights_path": args.weights,
            "lr": args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 1e-3),
            "num_workers": args.workers,
            "cache_decoded": {"auto": None, "on": True, "off": False}[args.cache],
        }
    )
    config.validate()
    if args.weights and not Path(args.weights).is_file():
        raise CliError(f"{args.weights}: weights file not found")
    info = distributed.init_from_env(config.device)
    name = args.name or args.attribute
    work_dir = Path(args.work_dir) if args.work_dir else _default_work_dir(args.out, name)

    bar: Any = None

    def progress(p: Any) -> None:
        nonlocal bar
        if bar is None or bar.desc != f"epoch {p.epoch}/{p.epochs}":
            if bar is not None:
                bar.close()
            bar = tqdm(total=p.steps, desc=f"epoch {p.epoch}/{p.epochs}", file=sys.stderr)
        bar.update(p.step - bar.n)
        bar.set_postfix(loss=f"{p.loss:.3f}", img_s=f"{p.images_per_s:.0f}")

    try:
        result = fit(
            config,
            data.train,
            data.label_names,
            out_dir=work_dir,
            eval_items=data.test or None,
            progress=progress,
            resume=not args.no_resume,
            s3=s3,
        )
    finally:
        if bar is not None:
            bar.close()
        distributed.shutdown(info)
    if not info.is_main:
        return 0
    metrics = result.metrics.to_dict() if result.metrics else None
    uri = save_model(
        args.out,
        name=name,
        model=result.model,
        label_names=result.label_names,
        config=config,
        metrics=metrics,
        s3=s3,
    )
    summary = {
        "model": uri,
        "epochs": result.epochs_done,
        "train_images": len(data.train),
        "test_images": len(data.test),
        "skipped_unlabelled": data.unlabelled,
        "skipped_unreadable": [{"path": p, "error": e} for p, e in result.skipped],
        "world_size": result.world_size,
        "accuracy": metrics["accuracy"] if metrics else None,
        "macro_f1": metrics["macro_f1"] if metrics else None,
    }
    print(json.dumps(summary))
    return 0


def _default_work_dir(out: str, name: str) -> Path:
    """Checkpoints live next to the saved versions locally, in ./mlcore-work for S3."""
    if is_s3(out):
        return Path("mlcore-work") / name
    return Path(out) / name / "work"


# -- evaluate ---------------------------------------------------------------------------


def _evaluate(args: argparse.Namespace) -> int:
    from mlcore.data.labels_csv import read_labels_csv
    from mlcore.eval.metrics import compute_metrics
    from mlcore.infer import predict_items
    from mlcore.store import load_model

    s3 = _s3_options(args)
    saved = load_model(args.model, device=_device(args.device), s3=s3)
    data = read_labels_csv(
        args.data, attribute=args.attribute, label_names=saved.label_names, s3=s3
    )
    split = args.split or ("test" if data.has_split else "all")
    items = {"train": data.train, "test": data.test, "all": data.train + data.test}[split]
    if not items:
        raise CliError(f"{args.data}: no labelled {split!r} rows for {args.attribute!r}")
    config = replace(saved.config, num_workers=args.workers)
    out = predict_items(saved.model, items, config=config, batch_size=args.batch_size, s3=s3)
    for index, reason in out.skipped:
        print(f"skipped {items[index][0]}: {reason}", file=sys.stderr)
    if not len(out.labels):
        raise CliError(f"{args.data}: none of the {len(items)} {split!r} images could be read")
    metrics = compute_metrics(out.labels, out.probs, saved.label_names)
    report = metrics.to_dict()
    for key in ("false_positives", "false_negatives"):  # rows -> paths, the useful form
        report[key] = {
            c: [items[int(out.indices[r])][0] for r in rows] for c, rows in report[key].items()
        }
    report.update(model=saved.uri, split=split, skipped=len(out.skipped))
    text = json.dumps(report)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    print(
        f"accuracy {metrics.accuracy:.4f}  macro-F1 {metrics.macro_f1:.4f}  "
        f"on {metrics.n} {split} images",
        file=sys.stderr,
    )
    return 0


# -- predict ----------------------------------------------------------------------------


def expand_inputs(inputs: Sequence[str], *, s3: S3Options | None = None) -> Iterator[str]:
    """Paths as given, globs expanded (sorted), CSVs replaced by their `path` column."""
    from mlcore.data.labels_csv import resolve_path

    for spec in inputs:
        if spec.lower().endswith(".csv"):
            try:
                text = read_bytes(spec, s3=s3).decode("utf-8-sig")
            except FileNotFoundError as exc:
                raise CliError(f"{spec}: CSV not found") from exc
            reader = csv.DictReader(io.StringIO(text))
            if "path" not in (reader.fieldnames or []):
                raise CliError(f"{spec}: no 'path' column")
            base = spec.rpartition("/")[0] if is_s3(spec) else str(Path(spec).parent)
            for row in reader:
                if row["path"]:
                    yield resolve_path(base, row["path"].strip())
        elif not is_s3(spec) and glob.has_magic(spec) and not os.path.exists(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise CliError(f"{spec}: no file matches")
            yield from matches
        else:
            yield spec


def _predict(args: argparse.Namespace) -> int:
    from mlcore.infer import predict_items
    from mlcore.store import load_model

    s3 = _s3_options(args)
    saved = load_model(args.model, device=_device(args.device), s3=s3)
    config = replace(saved.config, num_workers=args.workers)
    paths = list(expand_inputs(args.paths, s3=s3))
    names = saved.label_names
    for lo in range(0, len(paths), PREDICT_CHUNK):
        chunk = paths[lo : lo + PREDICT_CHUNK]
        out = predict_items(
            saved.model, [(p, -1) for p in chunk], config=config, batch_size=args.batch_size, s3=s3
        )
        lines: dict[int, dict[str, Any]] = {
            i: {"path": chunk[i], "error": reason} for i, reason in out.skipped
        }
        for row, i in enumerate(out.indices.tolist()):
            scores = out.probs[row]
            lines[i] = {
                "path": chunk[i],
                "label": names[int(scores.argmax())],
                "scores": {n: round(float(s), 6) for n, s in zip(names, scores, strict=True)},
            }
        for i in range(len(chunk)):
            print(json.dumps(lines[i]), flush=False)
        sys.stdout.flush()
    return 0


def _device(name: str) -> str:
    from mlcore.device import resolve_device

    return str(resolve_device(name))


# -- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlcore", description="Train, evaluate and run image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    common.add_argument("--workers", type=int, default=2, help="image decoding processes")
    common.add_argument("--s3-endpoint-url", default=None, help="else $MLCORE_S3_ENDPOINT_URL")

    t = sub.add_parser("train", parents=[common], help="train on a labels CSV, save a version")
    t.add_argument("--data", required=True, help="labels CSV (path, [product], [split], attrs)")
    t.add_argument("--attribute", required=True, help="the CSV column to learn")
    t.add_argument("--labels", help="comma-separated label order (default: sorted values)")
    t.add_argument("--out", required=True, help="folder or s3://bucket/prefix for versions")
    t.add_argument("--name", help="model name under --out (default: the attribute)")
    t.add_argument("--work-dir", help="checkpoint folder (resumed when it has one)")
    t.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    t.add_argument("--arch", default="resnet18", help="resnet18, resnet50, efficientnet_lite0")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--image-size", type=int, default=224)
    t.add_argument("--small-stem", action="store_true", help="for images of <= 64 px")
    t.add_argument("--width", type=int, default=64, help="ResNet base channels")
    t.add_argument("--stn", action="store_true", help="spatial-transformer front-end")
    t.add_argument("--pretrained", action="store_true", help="efficientnet_lite0 ImageNet")
    t.add_argument("--weights", help="state dict to start from")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"))
    t.add_argument("--lr", type=float, help="peak learning rate (sgd 0.1, adamw 1e-3)")
    t.add_argument("--weight-decay", type=float, default=5e-4)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--class-weighting", default="none", choices=("none", "inverse", "effective"))
    t.add_argument(
        "--cache",
        default="auto",
        choices=("auto", "on", "off"),
        help="decoded uint8 image cache in memory",
    )
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(run=_train)

    e = sub.add_parser("evaluate", parents=[common], help="metrics of a model on a CSV")
    e.add_argument("--model", required=True, help="saved model URI or checkpoint file")
    e.add_argument("--data", required=True, help="labels CSV")
    e.add_argument("--attribute", required=True)
    e.add_argument(
        "--split",
        choices=("train", "test", "all"),
        help="default: test when the CSV has a split column, else all",
    )
    e.add_argument("--batch-size", type=int, default=128)
    e.add_argument("--out", help="also write the metrics JSON here")
    e.set_defaults(run=_evaluate)

    p = sub.add_parser("predict", parents=[common], help="JSON line of scores per image")
    p.add_argument("--model", required=True, help="saved model URI or checkpoint file")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("paths", nargs="+", help="image paths, s3:// URIs, globs or CSVs (path)")
    p.set_defaults(run=_predict, workers=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (CliError, FileNotFoundError, ImageError, ValueError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the exception held
        print(f"mlcore {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mlcore {args.command}: interrupted", file=sys.stderr)
        return 130
