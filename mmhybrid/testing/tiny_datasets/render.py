# Copyright (c) mmhybrid contributors. All rights reserved.
"""Drawing one scene: learnable objects (the class decides shape, colour and texture) on a
cluttered, noisy background, with the visible mask of every object."""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

Size = Tuple[int, int]  # (width, height)


@dataclass(frozen=True)
class _Look:
    """How every object of one class is drawn."""
    shape: str
    colour: Tuple[int, int, int]  # RGB
    texture: str


# One look per present class; dataset ``i``-th object class uses ``_LOOKS[i]``. The hues are
# far apart and saturated while the background is dull, so the classes are separable by colour
# alone, and also by shape and texture.
_LOOKS = (
    _Look('disc', (220, 40, 40), 'flat'),
    _Look('square', (40, 80, 230), 'checker'),
    _Look('triangle', (40, 200, 60), 'stripes_h'),
    _Look('cross', (235, 215, 40), 'dots'),
    _Look('star', (210, 50, 210), 'stripes_v'),
    _Look('diamond', (40, 210, 220), 'checker'),
)

def _shape_polygon(shape: str, cx: float, cy: float, radius: float,
                   angle: float) -> np.ndarray:
    """Vertices ``(N, 2)`` (x, y) of ``shape`` centred at (cx, cy), rotated by ``angle``."""
    if shape == 'disc':
        theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    elif shape == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.75
    elif shape == 'triangle':
        theta = np.array([-90, 30, 150]) * np.pi / 180
        pts = np.stack([np.cos(theta), np.sin(theta)], 1)
    elif shape == 'diamond':
        pts = np.array([[0, -1], [0.55, 0], [0, 1], [-0.55, 0]])
    elif shape == 'cross':
        a = 0.33
        pts = np.array([[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1],
                        [-a, a], [-1, a], [-1, -a], [-a, -a]])
    elif shape == 'star':
        theta = -np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([rad * np.cos(theta), rad * np.sin(theta)], 1)
    else:
        raise ValueError(f'unknown shape {shape!r}')
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return pts @ rot.T * radius + np.array([cx, cy])


def _rasterize(polygon: np.ndarray, size: Size) -> np.ndarray:
    """Boolean ``(H, W)`` mask of a polygon."""
    canvas = Image.new('L', size, 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def _texture(texture: str, size: Size, rng: np.random.Generator) -> np.ndarray:
    """``(H, W)`` pattern in {0, 1} with a random phase."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    x = x + rng.integers(0, 8)
    y = y + rng.integers(0, 8)
    if texture == 'flat':
        return np.zeros((h, w))
    if texture == 'checker':
        return ((x // 4 + y // 4) % 2).astype(float)
    if texture == 'stripes_h':
        return ((y // 3) % 2).astype(float)
    if texture == 'stripes_v':
        return ((x // 3) % 2).astype(float)
    if texture == 'dots':
        return ((x % 6 < 2) & (y % 6 < 2)).astype(float)
    raise ValueError(f'unknown texture {texture!r}')


def _dull_colour(rng: np.random.Generator) -> np.ndarray:
    """A desaturated colour, never confused with the saturated object colours."""
    return rng.uniform(70, 150) + rng.uniform(-15, 15, size=3)


def _background(size: Size, rng: np.random.Generator) -> Tuple[np.ndarray, Image.Image]:
    """A noisy vertical gradient with a few dull lines and boxes as clutter."""
    w, h = size
    top, bottom = _dull_colour(rng), _dull_colour(rng)
    t = np.linspace(0, 1, h)[:, None, None]
    img = (1 - t) * top + t * bottom + np.zeros((h, w, 3))
    clutter = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(clutter)
    for _ in range(rng.integers(3, 9)):
        colour = tuple(int(c) for c in _dull_colour(rng))
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        if rng.random() < 0.5:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=int(rng.integers(1, 4)))
        else:
            draw.rectangle([x0, y0, x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3], fill=colour)
    return np.asarray(clutter, dtype=np.float64), clutter


@dataclass
class _Object:
    look_index: int
    polygon: np.ndarray
    mask: np.ndarray  # visible part, bool (H, W)


def _render(size: Size,
            rng: np.random.Generator,
            look_indices: Sequence[int],
            radius_range: Tuple[float, float],
            allow_overlap: bool,
            num_ignore_blobs: int = 0) -> Tuple[np.ndarray, List[_Object], np.ndarray]:
    """Draw one scene.

    Returns:
        tuple: the ``(H, W, 3)`` uint8 RGB image, the objects (in drawing order; their masks are
        the visible parts), and an ``(H, W)`` bool mask of the blobs to be labelled "ignore".
    """
    w, h = size
    img, _ = _background(size, rng)
    ignore = np.zeros((h, w), dtype=bool)
    for _ in range(num_ignore_blobs):
        r = rng.uniform(0.05, 0.1) * min(w, h)
        blob = _rasterize(
            _shape_polygon('disc', rng.uniform(0, w), rng.uniform(0, h), r, 0.0), size)
        img[blob] = _dull_colour(rng) * 0.6
        ignore |= blob
    # dull shape distractors: part of the background, so shape alone never decides the class
    for _ in range(rng.integers(0, 3)):
        r = rng.uniform(0.05, 0.12) * min(w, h)
        shape = _LOOKS[rng.integers(len(_LOOKS))].shape
        img[_rasterize(
            _shape_polygon(shape, rng.uniform(0, w), rng.uniform(0, h), r, rng.uniform(0, 3)),
            size)] = _dull_colour(rng)

    objects: List[_Object] = []
    placed = []  # (cx, cy, r) of objects already drawn, for the no-overlap rule
    for look_index in look_indices:
        look = _LOOKS[look_index]
        for _ in range(50):
            r = rng.uniform(*radius_range) * min(w, h)
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            if allow_overlap or all((cx - px)**2 + (cy - py)**2 > (r + pr + 2)**2
                                    for px, py, pr in placed):
                break
        else:
            continue  # no room left for a non-overlapping object
        placed.append((cx, cy, r))
        polygon = _shape_polygon(look.shape, cx, cy, r, rng.uniform(-0.3, 0.3))
        mask = _rasterize(polygon, size)
        if not mask.any():
            continue
        colour = np.array(look.colour) + rng.uniform(-15, 15, size=3)
        shade = 1.0 - 0.45 * _texture(look.texture, size, rng)
        img[mask] = colour * shade[mask][:, None]
        for other in objects:
            other.mask &= ~mask
        ignore &= ~mask
        objects.append(_Object(look_index, polygon, mask))
    img = img + rng.normal(0, 6, size=img.shape)
    return img.clip(0, 255).round().astype(np.uint8), objects, ignore


def _scene_classes(rng: np.random.Generator, num_looks: int, max_objects: int) -> List[int]:
    return list(rng.integers(0, num_looks, size=rng.integers(1, max_objects + 1)))
