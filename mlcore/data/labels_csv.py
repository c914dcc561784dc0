"""labels.csv: columns path (relative to the CSV), optional product, optional split
(train/test), then one column per attribute holding label names."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlcore.data.dataset import Item
from mlcore.storage import S3Options, is_s3, read_bytes

RESERVED = ("path", "product", "split")
SPLITS = ("train", "test")


class DataError(ValueError):
    """A labels CSV the user has to fix; the message names the file, row and value."""


@dataclass
class LabelsCsv:
    source: str
    attribute: str
    label_names: list[str]
    train: list[Item] = field(default_factory=list)
    test: list[Item] = field(default_factory=list)
    has_split: bool = False
    unlabelled: int = 0  # rows with an empty label, skipped


def resolve_path(base: str, path: str) -> str:
    """A CSV path relative to the folder (or s3:// prefix) holding the CSV."""
    if is_s3(path) or os.path.isabs(path):
        return path
    if is_s3(base):
        return f"{base.rstrip('/')}/{path}"
    return str(Path(base) / path)


def read_labels_csv(
    source: str | os.PathLike[str],
    *,
    attribute: str,
    label_names: Sequence[str] | None = None,
    s3: S3Options | None = None,
) -> LabelsCsv:
    """Rows with an empty `attribute` value are skipped and counted. label_names fixes the
    label order (a value outside it is an error); by default the sorted distinct values.
    Rows without a split, in a CSV without a split column, count as train."""
    source = str(source)
    try:
        text = read_bytes(source, s3=s3).decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{source}: labels CSV not found") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not UTF-8 text ({exc.reason}); save the CSV as UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "path" not in columns:
        raise DataError(f"{source}: no 'path' column (columns: {', '.join(columns) or 'none'})")
    attributes = [c for c in columns if c not in RESERVED]
    if attribute not in attributes:
        raise DataError(
            f"{source}: unknown attribute {attribute!r}; the CSV has "
            f"{', '.join(repr(a) for a in attributes) or 'no attribute columns'}"
        )
    base = source.rpartition("/")[0] if is_s3(source) else str(Path(source).parent)
    has_split = "split" in columns
    rows: list[tuple[str, str, str, int]] = []  # (uri, label, split, line)
    unlabelled = 0
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        label = row.get(attribute, "")
        if not label:
            unlabelled += 1
            continue
        path = row.get("path", "")
        if not path:
            raise DataError(f"{source}, line {line}: empty path")
        split = row.get("split", "") or "train"
        if split not in SPLITS:
            raise DataError(
                f"{source}, line {line}: split {split!r} is not one of {', '.join(SPLITS)}"
            )
        rows.append((resolve_path(base, path), label, split, line))
    names = list(label_names) if label_names is not None else sorted({r[1] for r in rows})
    index = {name: i for i, name in enumerate(names)}
    out = LabelsCsv(source, attribute, names, has_split=has_split, unlabelled=unlabelled)
    for uri, label, split, line in rows:
        if label not in index:
            raise DataError(
                f"{source}, line {line}: {attribute} value {label!r} is not one of the "
                f"labels {names}"
            )
        (out.train if split == "train" else out.test).append((uri, index[label]))
    return out
