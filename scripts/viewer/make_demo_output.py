#!/usr/bin/env python3
"""Build a realistic Atlas output folder (Assets/viewer/FORMAT.md, atlas-index v1) from scratch, for developing and
testing the viewer without the Swift pipeline.

  make_demo_output.py OUTDIR                  activation atlas: grids g30 (30×30) and g15 (15×15) on 3000×3000 canvases
  make_demo_output.py OUTDIR --kind gallery   channel gallery: 100 channels, 10×10 cells, icons as separate files

Icons are procedural (oriented stripes and blobs whose colour and frequency drift smoothly across the grid, like a
UMAP layout), some cells are empty, and each cell gets plausible records (n, norm, top classes, samples with a few
thumbnails). Needs numpy and Pillow (e.g. /tmp/atlas-ref/bin/python). Deterministic for a given --seed.
"""
import argparse
import colorsys
import json
import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
VIEWER_FILES = ("index.html", "viewer.js", "viewer.css")
TILE = 256
CLASSES = [  # (ImageNet index, label)
    (1, "goldfish"), (9, "ostrich"), (22, "bald eagle"), (71, "scorpion"), (94, "hummingbird"), (130, "flamingo"),
    (207, "golden retriever"), (250, "Siberian husky"), (281, "tabby cat"), (291, "lion"), (323, "monarch butterfly"),
    (340, "zebra"), (388, "giant panda"), (417, "balloon"), (430, "basketball"), (444, "tandem bicycle"),
    (472, "canoe"), (508, "computer keyboard"), (531, "digital watch"), (566, "French horn"), (574, "golf ball"),
    (609, "jeep"), (657, "missile"), (717, "pickup truck"), (779, "school bus"), (817, "sports car"),
    (850, "teddy bear"), (907, "wine bottle"), (930, "French loaf"), (937, "broccoli"), (947, "mushroom"),
    (948, "Granny Smith"), (950, "orange"), (954, "banana"), (963, "pizza"), (970, "alp"), (973, "coral reef"),
    (980, "volcano"), (985, "daisy"), (988, "acorn"),
]


def hex_rgb(h):
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))


class Field:
    """Smooth random functions over [0,1]² that drive icon style, density and class layout."""

    def __init__(self, rng):
        self.waves = rng.normal(size=(6, 4, 3))  # 6 fields × 4 terms × (fx, fy, phase)
        self.blobs = rng.uniform(0.1, 0.9, size=(9, 2))
        self.class_pos = rng.uniform(0.0, 1.0, size=(len(CLASSES), 2))
        self.rng = rng

    def value(self, k, u, v):
        w = self.waves[k]
        return sum(math.sin(2.4 * (a * u + b * v) + 6.28 * c) for a, b, c in w) / 2.0

    def density(self, u, v):
        return sum(math.exp(-((u - x) ** 2 + (v - y) ** 2) / 0.012) for x, y in self.blobs) + 0.25 * self.value(4, 4 * u, 4 * v)

    def top(self, u, v, k=5):
        d2 = ((self.class_pos - (u, v)) ** 2).sum(1)
        logits = -d2 / 0.02 + self.rng.normal(0, 0.4, size=len(CLASSES))
        p = np.exp(logits - logits.max())
        p /= p.sum()
        order = np.argsort(-p)[:k]
        return [{"label": CLASSES[i][1], "index": CLASSES[i][0], "value": round(float(p[i]), 4)} for i in order]


def icon(field, u, v, size, rng):
    """A feature-visualization-like RGB icon for grid position (u, v) ∈ [0,1]²."""
    t = np.linspace(-1, 1, size, dtype=np.float32)
    X, Y = np.meshgrid(t, t)
    theta = math.pi * field.value(0, u, v)
    freq = 4 + 3 * (1 + field.value(1, u, v))
    swirl = 1.5 * field.value(2, u, v)
    R = np.hypot(X, Y)
    A = np.arctan2(Y, X) + swirl * R
    s1 = np.sin(freq * (np.cos(A) * R * math.cos(theta) + np.sin(A) * R * math.sin(theta)) * math.pi)
    s2 = np.sin((freq * 0.7) * R * math.pi + 3 * field.value(3, u, v))
    blob = np.exp(-((X - 0.3 * field.value(4, u, v)) ** 2 + (Y - 0.3 * field.value(5, u, v)) ** 2) * 3)
    m = 0.55 * s1 + 0.35 * s2 * blob + 0.15 * rng.normal(size=X.shape).astype(np.float32)
    m = (m - m.min()) / (np.ptp(m) + 1e-6)
    hue = (0.5 + 0.6 * field.value(0, 3 * v, 3 * u)) % 1.0
    c1 = np.array(colorsys.hsv_to_rgb(hue, 0.75, 0.95), np.float32)
    c2 = np.array(colorsys.hsv_to_rgb((hue + 0.45) % 1.0, 0.6, 0.35), np.float32)
    c3 = np.array(colorsys.hsv_to_rgb((hue + 0.12) % 1.0, 0.25, 1.0), np.float32)
    m3 = m[..., None]
    rgb = c2 * (1 - m3) ** 2 + c1 * 2 * m3 * (1 - m3) + c3 * m3 ** 2
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")


def write_pyramid(canvas, out, grid_id, background, fmt="jpg"):
    """256-px XYZ pyramid: level z = canvas scaled by 2^(z − maxZoom); edge tiles padded with background."""
    w, h = canvas.size
    max_zoom = max(0, math.ceil(math.log2(max(w, h) / TILE)))
    bg = hex_rgb(background)
    for z in range(max_zoom + 1):
        f = 2 ** (max_zoom - z)
        lw, lh = math.ceil(w / f), math.ceil(h / f)
        level = canvas if f == 1 else canvas.resize((lw, lh), Image.LANCZOS)
        for ty in range(math.ceil(lh / TILE)):
            for tx in range(math.ceil(lw / TILE)):
                tile = Image.new("RGB", (TILE, TILE), bg)
                tile.paste(level.crop((tx * TILE, ty * TILE, min(lw, tx * TILE + TILE), min(lh, ty * TILE + TILE))))
                path = out / "tiles" / grid_id / str(z) / str(tx) / f"{ty}.{fmt}"
                path.parent.mkdir(parents=True, exist_ok=True)
                tile.save(path, quality=88) if fmt == "jpg" else tile.save(path)
    return {"path": f"tiles/{grid_id}/{{z}}/{{x}}/{{y}}.{fmt}", "tileSize": TILE, "minZoom": 0,
            "maxZoom": max_zoom, "format": fmt}


def make_thumbs(out, rng, count=24):
    """Sample thumbnails (stand-ins for crops of dataset images)."""
    paths = []
    field = Field(rng)
    for i in range(count):
        p = out / "thumbs" / f"val_{i:03d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        icon(field, rng.uniform(), rng.uniform(), 96, rng).save(p, quality=85)
        paths.append(p.relative_to(out).as_posix())
    return paths


def samples_for(rng, n, thumbs, with_thumbs):
    out = []
    for _ in range(min(n, 4)):
        img = int(rng.integers(1, 50000))
        s = {"path": f"images/val/ILSVRC2012_val_{img:08d}.JPEG", "x": int(rng.integers(0, 14)),
             "y": int(rng.integers(0, 14))}
        if with_thumbs:
            s["thumb"] = thumbs[int(rng.integers(0, len(thumbs)))]
        out.append(s)
    return out


def atlas_grid(field, rng, grid_id, cols, canvas_px, background, out, thumbs):
    cs = canvas_px // cols
    canvas = Image.new("RGB", (cols * cs, cols * cs), hex_rgb(background))
    cells = []
    for y in range(cols):
        for x in range(cols):
            u, v = (x + 0.5) / cols, (y + 0.5) / cols
            dens = field.density(u, v)
            if dens < 0.35:
                continue  # empty: no activations landed here
            n = int(max(1, rng.poisson(4 + 60 * dens * (900 / cols ** 2))))
            pad = max(1, cs // 50)
            canvas.paste(icon(field, u, v, cs - 2 * pad, rng), (x * cs + pad, y * cs + pad))
            cells.append({"x": x, "y": y, "n": n, "rect": [x * cs + pad, y * cs + pad, cs - 2 * pad, cs - 2 * pad],
                          "norm": round(float(20 + 30 * dens + rng.normal(0, 2)), 3), "top": field.top(u, v),
                          "samples": samples_for(rng, n, thumbs, (x + y) % 3 != 0)})
    tiles = write_pyramid(canvas, out, grid_id, background)
    return {"id": grid_id, "label": f"{cols}×{cols}", "columns": cols, "rows": cols, "cellSize": cs,
            "origin": [0, 0], "background": background, "canvas": {"width": canvas.width, "height": canvas.height},
            "tiles": tiles, "cells": cells}


def gallery_grid(field, rng, out, channels=100, cols=10, cs=128, background="#101010"):
    rows = math.ceil(channels / cols)
    canvas = Image.new("RGB", (cols * cs, rows * cs), hex_rgb(background))
    cells, pad = [], 4
    for ch in range(channels):
        x, y = ch % cols, ch // cols
        img = icon(field, rng.uniform(), rng.uniform(), cs - 2 * pad, rng)
        canvas.paste(img, (x * cs + pad, y * cs + pad))
        ipath = out / "icons" / "channels" / f"{ch}.png"
        ipath.parent.mkdir(parents=True, exist_ok=True)
        img.save(ipath)
        cells.append({"x": x, "y": y, "rect": [x * cs + pad, y * cs + pad, cs - 2 * pad, cs - 2 * pad],
                      "channel": ch, "objective": f"mixed4c:{ch}", "top": field.top(rng.uniform(), rng.uniform(), 3),
                      "icon": ipath.relative_to(out).as_posix()})
    canvas.save(out / "atlas.png")  # small enough to ship whole
    tiles = write_pyramid(canvas, out, "channels", background)
    return {"id": "channels", "label": f"{channels} channels", "columns": cols, "rows": rows, "cellSize": cs,
            "origin": [0, 0], "background": background, "canvas": {"width": canvas.width, "height": canvas.height},
            "tiles": tiles, "cells": cells}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--kind", choices=("atlas", "gallery"), default="atlas")
    ap.add_argument("--size", type=int, default=3000, help="atlas canvas size in px (default 3000)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    out = a.outdir
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(a.seed)
    field = Field(rng)
    common = {"format": "atlas-index", "version": 1, "kind": a.kind,
              "model": {"file": "inception_v1.onnx",
                        "sha256": "3f1c9a7e0b5d2c4f6a8e1b3d5c7f9a0b2d4e6f8a1c3e5b7d9f0a2c4e6b8d0f1a"},
              "layer": "mixed4c", "seed": a.seed, "created": "2025-01-31T12:00:00Z"}
    if a.kind == "atlas":
        thumbs = make_thumbs(out, rng)
        grids = [atlas_grid(field, rng, "g30", 30, a.size, "#111111", out, thumbs),
                 atlas_grid(field, rng, "g15", 15, a.size, "#111111", out, thumbs)]
        index = {**common, "title": "InceptionV1 mixed4c — activation atlas (demo)",
                 "settings": {"images": 10000, "umap": {"neighbors": 20, "minDist": 0.01}, "steps": 512,
                              "lr": 0.05, "transforms": "jitter,scale,rotate"}, "grids": grids}
    else:
        index = {**common, "title": "InceptionV1 mixed4c — channel gallery (demo)",
                 "settings": {"steps": 512, "lr": 0.05, "param": "fft+decorrelate", "size": 128},
                 "grids": [gallery_grid(field, rng, out)]}
    text = json.dumps(index, indent=1, ensure_ascii=False)
    (out / "atlas.json").write_text(text + "\n", encoding="utf-8")
    (out / "atlas.js").write_text("window.ATLAS_INDEX = " + json.dumps(index, ensure_ascii=True) + ";\n", encoding="ascii")
    for name in VIEWER_FILES:
        shutil.copyfile(ROOT / "Assets" / "viewer" / name, out / name)
    ntiles = sum(1 for _ in (out / "tiles").rglob("*.jpg"))
    print(f"{out}: kind {a.kind}, grids {[g['id'] for g in index['grids']]}, "
          f"{sum(len(g['cells']) for g in index['grids'])} cells, {ntiles} tiles")


if __name__ == "__main__":
    main()
