#!/usr/bin/python3
"""Writes the image grids of the hand-written report fixture (attack.json here).

Not attack output: the top row is four Fashion-MNIST test images, the rows below
are those images blurred and mixed with the data set's mean image, more so for
deeper cuts, to look like reconstructions. Run from this folder; needs numpy, PIL
and the Debian package dataset-fashion-mnist."""
import gzip

import numpy as np
from PIL import Image

with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255
victims = images[[0, 1, 2, 5]]
mean = images[:1000].mean(axis=0)


def blur(x, k):
    if k <= 1:
        return x
    pad = np.pad(x, k // 2, mode="edge")
    out = np.zeros_like(x)
    for dy in range(k):
        for dx in range(k):
            out += pad[dy:dy + 28, dx:dx + 28]
    return out / (k * k)


def grid(rows):
    gap = 2
    h = len(rows) * 28 + (len(rows) - 1) * gap
    w = len(rows[0]) * 28 + (len(rows[0]) - 1) * gap
    canvas = np.ones((h, w), np.float32)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            canvas[r * 30:r * 30 + 28, c * 30:c * 30 + 28] = img
    return Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))


# (file, [(blur, weight of the mean image) per attack row])
cuts = [("grids/features.4.png", [(1, 0.05), (2, 0.1), (1, 0.0)]),
        ("grids/features.16.png", [(3, 0.3), (4, 0.4), (5, 0.5)]),
        ("grids/features.30.png", [(7, 0.85), (9, 0.9)])]
for name, rows in cuts:
    recon = [[(1 - m) * blur(v, k) + m * mean for v in victims] for k, m in rows]
    grid([list(victims)] + recon).save(name, optimize=True)
