"""Procedurally drawn dresses with known attribute labels and exact bounding boxes.

A test bed for attribute classifiers, box regression and look-alike search. Every product is
one `DressSpec`; its photos show the same dress on different backgrounds, positions, scales
and small rotations. For "the same dress with another neckline", render
`dataclasses.replace(spec, neckline="boat")`. The images are plainly synthetic.
"""

from __future__ import annotations

import colorsys
import csv
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mlcore.storage import atomic_open

RGB = tuple[int, int, int]
Point = tuple[float, float]

# Label order is fixed: models index classes by position.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "silhouette": ("a-line", "sheath", "fit-and-flare", "shift"),
    "neckline": ("v-neck", "round", "square", "boat"),
    "sleeve": ("sleeveless", "short", "long"),
    "occasion": ("casual", "party", "work"),
}
# Occasion shows through the fabric: light prints, saturated sequins, dark plain cloth.
PATTERNS: dict[str, tuple[str, ...]] = {
    "casual": ("stripes", "florals", "gingham"),
    "party": ("sequins",),
    "work": ("solid",),
}
BACKGROUNDS: tuple[str, ...] = ("solid", "gradient", "noise", "clutter")
_SUPERSAMPLE = 3  # draw at 3x and box-filter down, for anti-aliased edges
_MIN_ALPHA = 12  # coverage below 12/255 is dropped, so the box holds only visible pixels


@dataclass(frozen=True)
class DressSpec:
    """One dress: its four labels (values from `ATTRIBUTES`) and the look of its fabric.

    `random_spec` keeps pattern and colours consistent with the occasion; a hand-made or
    `replace`d spec is drawn as given.
    """

    silhouette: str
    neckline: str
    sleeve: str
    occasion: str
    colour: RGB  # base fabric
    pattern: str  # one of PATTERNS[occasion]
    pattern_colour: RGB
    pattern_scale: float  # pattern period, in dress heights
    pattern_seed: int  # places dots and flowers, so every photo shows the same print
    length: float  # skirt length in bodice lengths: 1.5 short .. 2.6 long
    width: float  # shoulder width, in dress heights

    def __post_init__(self) -> None:
        for name, values in ATTRIBUTES.items():
            if getattr(self, name) not in values:
                raise ValueError(f"DressSpec {name}={getattr(self, name)!r}: use one of {values}.")
        known = {p for group in PATTERNS.values() for p in group}
        if self.pattern not in known:
            raise ValueError(f"DressSpec pattern={self.pattern!r}: use one of {sorted(known)}.")

    @property
    def labels(self) -> dict[str, str]:
        """attribute -> label, in `ATTRIBUTES` order."""
        return {name: getattr(self, name) for name in ATTRIBUTES}


def random_spec(rng: random.Random) -> DressSpec:
    """A dress with uniformly drawn labels and an occasion-typical fabric."""
    silhouette = rng.choice(ATTRIBUTES["silhouette"])
    neckline = rng.choice(ATTRIBUTES["neckline"])
    sleeve = rng.choice(ATTRIBUTES["sleeve"])
    occasion = rng.choice(ATTRIBUTES["occasion"])
    hue = rng.random()
    if occasion == "party":
        colour = _hsv(hue, rng.uniform(0.75, 1.0), rng.uniform(0.6, 0.95))
        pattern_colour = _mix(colour, (255, 255, 255), rng.uniform(0.45, 0.7))
        scale = rng.uniform(0.04, 0.055)
    elif occasion == "work":
        colour = _hsv(hue, rng.uniform(0.1, 0.55), rng.uniform(0.1, 0.3))
        pattern_colour = colour
        scale = 0.0
    else:
        colour = _hsv(hue, rng.uniform(0.05, 0.3), rng.uniform(0.88, 1.0))
        pattern_colour = _hsv(rng.random(), rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.8))
        scale = rng.uniform(0.06, 0.1)
    return DressSpec(
        silhouette=silhouette,
        neckline=neckline,
        sleeve=sleeve,
        occasion=occasion,
        colour=colour,
        pattern=rng.choice(PATTERNS[occasion]),
        pattern_colour=pattern_colour,
        pattern_scale=round(scale, 4),
        pattern_seed=rng.getrandbits(31),
        length=round(rng.uniform(1.5, 2.6), 3),
        width=round(rng.uniform(0.3, 0.36), 3),
    )


def render(
    spec: DressSpec,
    *,
    size: int = 128,
    rng: random.Random,
    background: Image.Image | None = None,
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """One photo of `spec`: a (size, size) RGB image and the dress's tight box.

    The box is (x0, y0, x1, y1) in pixels with x1, y1 exclusive (as in `Image.crop`), taken
    from the drawn coverage mask. `background` (a (size, size) image) replaces the random one.
    """
    photo = _render(spec, size=size, rng=rng, background=background)
    return photo.image, photo.box


@dataclass
class _Photo:
    image: Image.Image
    box: tuple[int, int, int, int]
    background: str
    angle: float  # degrees, counter-clockwise
    scale: float  # drawn dress height over image height, before rotation


def _render(
    spec: DressSpec, *, size: int, rng: random.Random, background: Image.Image | None
) -> _Photo:
    if size < 32:
        raise ValueError(f"size={size}: dresses need at least 32x32 pixels.")
    kind = rng.choice(BACKGROUNDS)
    image = _background(kind, size, rng)
    if background is not None:
        if background.size != (size, size):
            raise ValueError(f"background is {background.size}, expected {(size, size)}.")
        image, kind = background.convert("RGB"), "given"
    angle = rng.uniform(-10.0, 10.0) if rng.random() < 0.5 else 0.0
    shape = _Shape.of(spec)
    # Height such that the rotated dress still fits inside the image.
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    w = 2 * shape.half_width
    height = min(rng.uniform(0.35, 0.85) * size, (size - 2) / (c * w + s), (size - 2) / (s * w + c))
    fabric, mask = _draw(spec, shape, height * _SUPERSAMPLE)
    if angle:
        fabric = fabric.rotate(angle, Image.Resampling.BICUBIC, expand=True)
        mask = mask.rotate(angle, Image.Resampling.BILINEAR, expand=True)
    fabric, mask = fabric.reduce(_SUPERSAMPLE), mask.reduce(_SUPERSAMPLE)
    mask = mask.point([0] * _MIN_ALPHA + list(range(_MIN_ALPHA, 256)))
    bbox = mask.getbbox()
    assert bbox is not None, "a dress is always drawn"
    fabric, mask = fabric.crop(bbox), mask.crop(bbox)
    x0 = rng.randint(0, size - mask.width)
    y0 = rng.randint(0, size - mask.height)
    image = image.copy()
    image.paste(fabric, (x0, y0), mask)
    box = (x0, y0, x0 + mask.width, y0 + mask.height)
    return _Photo(image, box, kind, round(angle, 2), round(height / size, 3))


@dataclass
class _Shape:
    """The dress outline in dress units: x centred on 0, y from 0 (shoulders) to 1 (hem)."""

    body: list[Point]
    sleeves: list[list[Point]] = field(default_factory=list)
    cuffs: list[list[Point]] = field(default_factory=list)
    seams: list[list[Point]] = field(default_factory=list)  # waist seam and skirt folds

    @property
    def half_width(self) -> float:
        return max(abs(x) for x, _ in self.body + [p for s in self.sleeves for p in s])

    @classmethod
    def of(cls, spec: DressSpec) -> _Shape:
        waist_y = 1.0 / (1.0 + spec.length)
        sw = spec.width / 2  # shoulder
        bw = sw * 0.92  # bust
        arm_y = waist_y * 0.45
        arc = [math.pi * i / 12 for i in range(13)]
        # Neckline from the right neck point through the cut to the left one.
        neck: list[Point]
        if spec.neckline == "v-neck":
            nw = 0.065
            neck = [(nw, 0.0), (0.0, min(0.2, waist_y * 0.62)), (-nw, 0.0)]
        elif spec.neckline == "round":
            nw = 0.07
            neck = [(nw * math.cos(a), 0.085 * math.sin(a)) for a in arc]
        elif spec.neckline == "square":
            nw = 0.08
            neck = [(nw, 0.0), (nw, 0.085), (-nw, 0.085), (-nw, 0.0)]
        else:  # boat: wide and shallow
            nw = sw * 0.8
            neck = [(nw * math.cos(a), 0.025 * math.sin(a)) for a in arc]
        # Right side, from the neck point down to the hem.
        side: list[Point]
        if spec.sleeve == "sleeveless":  # strap, then a scooped armhole
            sx = nw + max(0.045, (sw - nw) * 0.45)
            quarter = [math.pi / 2 * i / 7 for i in range(8)]
            side = [(sx + (bw - sx) * (1 - math.cos(t)), arm_y * math.sin(t)) for t in quarter]
        else:
            side = [(sw, 0.02 if spec.neckline == "boat" else 0.03), (bw, arm_y)]
        shape = cls(body=[])
        ww = (
            sw
            * {"a-line": 0.75, "sheath": 0.72, "fit-and-flare": 0.66, "shift": 1.0}[spec.silhouette]
        )
        hem: list[Point]
        if spec.silhouette == "shift":  # boxy, no waist
            hw = bw * 1.12
            skirt: list[Point] = [(hw, 1.0)]
            hem = [(hw, 1.0), (-hw, 1.0)]
        elif spec.silhouette == "sheath":  # fitted through the hips, narrow hem
            skirt = [(ww, waist_y), (sw * 0.98, waist_y + 0.14), (sw * 0.9, 1.0)]
            hem = [(sw * 0.9, 1.0), (-sw * 0.9, 1.0)]
        elif spec.silhouette == "a-line":  # straight flare, gently curved hem
            hw = sw * 1.85
            skirt = [(ww, waist_y), (hw, 0.965)]
            hem = [(hw * u / 10, 1.0 - 0.035 * (u / 10) ** 2) for u in range(10, -11, -1)]
            shape.seams = [[(-ww, waist_y), (ww, waist_y)]]
            shape.seams += [
                [(k * ww * 0.35, waist_y + 0.06), (k * hw * 0.45, 0.95)] for k in (-1, 1)
            ]
        else:  # fit-and-flare: bell skirt with a ruffled hem
            hw = sw * 2.35
            ts = [i / 8 for i in range(9)]
            skirt = [(ww + (hw - ww) * t**0.5, waist_y + (0.97 - waist_y) * t) for t in ts]
            hem = [
                (hw * u / 20, 0.97 + 0.03 * math.sin(math.pi * u / 4) ** 2)
                for u in range(20, -21, -1)
            ]
            shape.seams = [[(-ww, waist_y), (ww, waist_y)]]
            shape.seams += [
                [(k * ww, waist_y + 0.03), (k * hw * 0.9, 0.95)] for k in (-0.6, -0.2, 0.2, 0.6)
            ]
        right = [(nw, 0.0), *side, *skirt]
        left = [(-x, y) for x, y in reversed(right)]
        shape.body = right + hem + left + list(reversed(neck))[1:-1]
        if spec.sleeve != "sleeveless":
            long = spec.sleeve == "long"
            for k in (1, -1):
                shape.sleeves.append(_sleeve(side[0], side[1], long=long, mirror=k))
                if long:
                    shape.cuffs.append(_sleeve(side[0], side[1], long=long, mirror=k, cuff=True))
        return shape


def _sleeve(
    shoulder: Point, armpit: Point, *, long: bool, mirror: int, cuff: bool = False
) -> list[Point]:
    """A sleeve quad hanging from the right shoulder-armpit edge, mirrored for mirror=-1."""
    theta = math.radians(62 if long else 40)  # below horizontal
    d = (math.cos(theta), math.sin(theta))
    across = (-d[1], d[0])  # from the upper edge towards the armpit
    length, opening = (0.5, 0.06) if long else (0.11, 0.09)
    top = (shoulder[0] + d[0] * length, shoulder[1] + d[1] * length)
    bottom = (top[0] + across[0] * opening, top[1] + across[1] * opening)
    if cuff:
        back = 0.05
        quad = [(top[0] - d[0] * back, top[1] - d[1] * back), top, bottom]
        quad.append((bottom[0] - d[0] * back, bottom[1] - d[1] * back))
    else:
        quad = [shoulder, top, bottom, armpit]
    return [(x * mirror, y) for x, y in quad]


def _draw(spec: DressSpec, shape: _Shape, height: float) -> tuple[Image.Image, Image.Image]:
    """The dress at `height` pixels tall: fabric RGB and coverage mask L, same size."""
    pad = 2 * _SUPERSAMPLE
    bottom = max(y for _, y in shape.body)
    size = (
        math.ceil(2 * shape.half_width * height) + 2 * pad,
        math.ceil(bottom * height) + 2 * pad,
    )
    origin = (size[0] / 2, float(pad))

    def px(points: Iterable[Point]) -> list[Point]:
        return [(origin[0] + x * height, origin[1] + y * height) for x, y in points]

    cloth = _fabric(spec, size, origin, height, half_width=shape.half_width)
    fabric = cloth.copy()
    mask = Image.new("L", size, 0)
    shade = (
        _mix(spec.colour, (0, 0, 0), 0.45)
        if sum(spec.colour) > 180
        else _mix(spec.colour, (255, 255, 255), 0.3)
    )
    stroke = max(1, round(height * 0.01))
    pen = ImageDraw.Draw(fabric)
    ImageDraw.Draw(mask).polygon(px(shape.body), fill=255)
    pen.line(px(shape.body + shape.body[:1]), fill=shade, width=stroke, joint="curve")
    for seam in shape.seams:
        pen.line(px(seam), fill=shade, width=max(1, stroke // 2))
    for sleeve in shape.sleeves:  # drawn over the body, with their own clean fabric
        piece = Image.new("L", size, 0)
        ImageDraw.Draw(piece).polygon(px(sleeve), fill=255)
        fabric.paste(cloth, mask=piece)
        mask.paste(255, mask=piece)
        pen.line(px(sleeve + sleeve[:1]), fill=shade, width=stroke, joint="curve")
    for cuff in shape.cuffs:
        pen.polygon(px(cuff), fill=shade)
    # Soft side shading, so the dress reads as cloth rather than a flat sticker.
    x = (np.arange(size[0], dtype=np.float32) - origin[0]) / (size[0] / 2)
    light = (1.0 - 0.2 * x**2)[None, :, None]
    shaded = np.asarray(fabric, dtype=np.float32) * light  # (H, W, 3)
    return Image.fromarray(shaded.clip(0, 255).astype(np.uint8)), mask


def _fabric(
    spec: DressSpec, size: tuple[int, int], origin: Point, unit: float, *, half_width: float
) -> Image.Image:
    """The print over the whole canvas, laid out in dress units (`unit` pixels each, from
    `origin`) so that every photo of a product shows the same print."""
    cloth = Image.new("RGB", size, spec.colour)
    s = spec.pattern_scale
    if spec.pattern == "solid" or s * unit < 1:
        return cloth
    rng = random.Random(spec.pattern_seed)
    if spec.pattern in ("stripes", "gingham"):
        phase = rng.random() * s
        rows = ((np.arange(size[1]) - origin[1]) / unit + phase) % s < s * 0.4  # (H,)
        cover = rows[:, None].astype(np.float32)  # (H, 1)
        if spec.pattern == "gingham":
            cols = ((np.arange(size[0]) - origin[0]) / unit + phase) % s < s * 0.5  # (W,)
            cover = 0.45 * (cover + cols[None, :])  # (H, W); crossings get twice the colour
        cover = np.broadcast_to(cover, (size[1], size[0]))[..., None]
        out = (
            np.asarray(cloth, np.float32) * (1 - cover)
            + np.asarray(spec.pattern_colour, np.float32) * cover
        )
        return Image.fromarray(out.astype(np.uint8))
    draw = ImageDraw.Draw(cloth)

    def dot(x: float, y: float, r: float, colour: RGB) -> None:
        cx, cy = origin[0] + x * unit, origin[1] + y * unit
        draw.ellipse((cx - r * unit, cy - r * unit, cx + r * unit, cy + r * unit), fill=colour)

    if spec.pattern == "sequins":  # a dense hexagonal grid of bright and dark dots
        dark = _mix(spec.colour, (0, 0, 0), 0.4)
        for j in range(int(1.1 / (0.87 * s)) + 2):
            for i in range(-int(half_width / s) - 1, int(half_width / s) + 2):
                roll = rng.random()
                colour = (255, 255, 255) if roll < 0.05 else dark if roll < 0.3 else None
                dot(
                    (i + 0.5 * (j % 2)) * s,
                    j * 0.87 * s - 0.02,
                    s * 0.32,
                    colour or spec.pattern_colour,
                )
    else:  # florals: five petals and a light centre on a jittered grid
        step = s * 1.3
        centre = _mix(spec.pattern_colour, (255, 240, 160), 0.7)
        for j in range(int(1.1 / step) + 2):
            for i in range(-int(half_width / step) - 1, int(half_width / step) + 2):
                x = (i + 0.5 * (j % 2) + rng.uniform(-0.25, 0.25)) * step
                y = (j + rng.uniform(-0.25, 0.25)) * step
                turn = rng.random() * math.tau
                for k in range(5):
                    a = turn + k * math.tau / 5
                    dot(
                        x + 0.16 * s * math.cos(a),
                        y + 0.16 * s * math.sin(a),
                        0.12 * s,
                        spec.pattern_colour,
                    )
                dot(x, y, 0.08 * s, centre)
    return cloth


def _background(kind: str, size: int, rng: random.Random) -> Image.Image:
    """A (size, size) RGB background of the given kind (one of `BACKGROUNDS`)."""
    base = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.25, 0.95))
    other = _hsv(rng.random(), rng.uniform(0.0, 0.5), rng.uniform(0.25, 0.95))
    if kind == "solid":
        return Image.new("RGB", (size, size), base)
    if kind == "clutter":  # overlapping furniture-like blocks, rings and lines
        image = Image.new("RGB", (size, size), base)
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(6, 16)):
            colour = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.2, 0.95))
            x0, y0 = rng.uniform(-0.2, 1.0) * size, rng.uniform(-0.2, 1.0) * size
            x1, y1 = x0 + rng.uniform(0.05, 0.5) * size, y0 + rng.uniform(0.05, 0.5) * size
            what = rng.choice(("rectangle", "ellipse", "ring", "line"))
            if what == "rectangle":
                draw.rectangle((x0, y0, x1, y1), fill=colour)
            elif what == "ellipse":
                draw.ellipse((x0, y0, x1, y1), fill=colour)
            elif what == "ring":
                draw.ellipse((x0, y0, x1, y1), outline=colour, width=max(1, size // 40))
            else:
                draw.line((x0, y0, x1, y1), fill=colour, width=max(1, size // 30))
        return image
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (S, S) each
    if kind == "gradient":
        a = rng.uniform(0.0, math.tau)
        t = xx * math.cos(a) + yy * math.sin(a)
        t = (t - t.min()) / (t.max() - t.min() + 1e-6)
    else:  # noise: smooth blobs plus grain
        npr = np.random.default_rng(rng.getrandbits(63))
        cells = rng.randint(3, 8)
        blobs = Image.fromarray(npr.random((cells, cells), dtype=np.float32))
        t = np.asarray(blobs.resize((size, size), Image.Resampling.BICUBIC))
        t = t + npr.normal(0.0, 0.06, (size, size)).astype(np.float32)
    t = t.clip(0.0, 1.0)[..., None]  # (S, S, 1)
    out = np.asarray(base, np.float32) * (1 - t) + np.asarray(other, np.float32) * t
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def generate(
    out_dir: Path,
    *,
    n_products: int = 200,
    photos_per_product: int = 3,
    size: int = 128,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a labelled image folder of synthetic dresses; returns the labels CSV's path.

    out_dir/images/<product>-<k>.png, out_dir/labels.csv (path, product and the four
    attributes; no split, the app assigns those), out_dir/meta.csv (the box and every
    generator parameter per photo) and out_dir/SYNTHETIC.txt. Product i and its photos depend
    only on (seed, i, k), so the same arguments give the same bytes and a smaller
    n_products gives a prefix. labels.csv is written last. `progress(done, total)` is called
    after each product.
    """
    if n_products < 1 or photos_per_product < 1:
        raise ValueError("n_products and photos_per_product must be at least 1.")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    labels_path = out_dir / "labels.csv"
    labels_path.unlink(missing_ok=True)  # never leave a CSV beside half-replaced images
    spec_names = [f.name for f in fields(DressSpec)]
    label_rows: list[list[object]] = []
    meta_rows: list[list[object]] = []
    total = n_products * photos_per_product
    for i in range(n_products):
        product = f"dress-{i:05d}"
        spec = random_spec(random.Random(f"{seed}:spec:{i}"))
        values = [_hex(v) if isinstance(v, tuple) else v for v in astuple(spec)]
        for k in range(photos_per_product):
            rng = random.Random(f"{seed}:photo:{i}:{k}")
            photo = _render(spec, size=size, rng=rng, background=None)
            rel = f"images/{product}-{k}.png"
            photo.image.save(out_dir / rel)
            label_rows.append([rel, product, *spec.labels.values()])
            meta_rows.append(
                [rel, product, *photo.box, *values, photo.background, photo.angle, photo.scale]
            )
        if progress is not None:
            progress((i + 1) * photos_per_product, total)
    meta_header = [
        "path",
        "product",
        "x0",
        "y0",
        "x1",
        "y1",
        *spec_names,
        "background",
        "angle",
        "scale",
    ]
    _write_csv(out_dir / "meta.csv", meta_header, meta_rows)
    (out_dir / "SYNTHETIC.txt").write_text(
        _NOTICE.format(n=total, products=n_products, size=size, seed=seed), encoding="utf-8"
    )
    _write_csv(labels_path, ["path", "product", *ATTRIBUTES], label_rows)
    return labels_path


_NOTICE = """\
These {n} images ({products} products, {size}x{size} px, seed {seed}) are SYNTHETIC.
They were drawn procedurally by mlcore.datasets.synthetic_dresses: no photograph, no real
product and no person is shown. Labels are exact by construction: labels.csv holds the
attributes, meta.csv the tight dress box (x0, y0, x1, y1; x1 and y1 exclusive) and every
generator parameter (colours, print, background, rotation in degrees, scale = dress height
over image height). Photos of one product show the same dress on different backgrounds.
"""


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """a blended towards b by t in [0, 1]."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _hex(colour: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)
