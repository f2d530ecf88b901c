"""Pictures of tensors: images to uint8, class masks to colours, grids and contact sheets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from segan.labels import PART_PALETTE


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 (or a single (3, H, W) -> (H, W, 3))."""
    x = images.detach().float().cpu()
    x = ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


UNKNOWN_COLOUR = (128, 128, 128)


def colorize_mask(mask: torch.Tensor) -> np.ndarray:
    """(..., H, W) int class mask -> (..., H, W, 3) uint8 in the part palette; values that are
    no class (the unknown label 255) are grey."""
    palette = torch.tensor([*PART_PALETTE, UNKNOWN_COLOUR], dtype=torch.uint8)
    index = mask.detach().cpu().long()
    index = torch.where((index < 0) | (index >= len(PART_PALETTE)), len(PART_PALETTE), index)
    return palette[index].numpy()


def grid(tiles: np.ndarray, columns: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile (K, H, W, 3) uint8 pictures row-major into one picture with `columns` columns."""
    k, h, w, _ = tiles.shape
    rows = (k + columns - 1) // columns
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), fill, np.uint8)
    for i in range(k):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = tiles[i]
    return out


def contact_sheet(
    images: torch.Tensor,
    masks: torch.Tensor | None,
    columns: int,
    column_titles: Sequence[str] = (),
) -> Image.Image:
    """A sheet of faces in rows of `columns`, each row followed by its colour-coded masks."""
    faces = to_uint8(images)
    tiles = []
    n = faces.shape[0]
    colored = colorize_mask(masks) if masks is not None else None
    for start in range(0, n, columns):
        row = list(faces[start : start + columns])
        row += [np.full_like(faces[0], 255)] * (columns - len(row))
        tiles += row
        if colored is not None:
            mrow = list(colored[start : start + columns])
            mrow += [np.full_like(faces[0], 255)] * (columns - len(mrow))
            tiles += mrow
    sheet = grid(np.stack(tiles), columns)
    if not column_titles:
        return Image.fromarray(sheet)
    title_h = 16
    canvas = Image.new("RGB", (sheet.shape[1], sheet.shape[0] + title_h), "white")
    canvas.paste(Image.fromarray(sheet), (0, title_h))
    draw = ImageDraw.Draw(canvas)
    w = faces.shape[2] + 2
    for c, title in enumerate(column_titles[:columns]):
        draw.text((2 + c * w + 3, 2), title, fill=(0, 0, 0))
    return canvas
