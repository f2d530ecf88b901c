"""What every writer shares: the argument checks, the seeded choices, rendering SynthFaces
faces in batches and saving them as the publishers' JPEGs."""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from segan.labels import (
    EXPRESSION_INDEX,
    NUM_AUS,
    PART_INDEX,
    expression_aus,
)
from segan.synth.dataset import identity_range, render
from segan.synth.render import check_resolution
from segan.visualize import to_uint8

# SynthFaces' test identity split: the writers' faces never overlap training identities.
TEST_IDENTITIES = identity_range("test")
JPEG_QUALITY = 95
MAX_BATCH_PIXELS = 64 * 256 * 256  # faces rendered per call: 64 at 256 px, 4 at 1024 px


class Face(NamedTuple):
    """One rendered face as numpy: image (H, W, 3) uint8, mask (H, W) int64, landmarks (68, 2)."""

    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray


# --- argument checks --------------------------------------------------------------------------
def check_count(name: str, value: int, high: int | None = None) -> int:
    """A positive int (at most `high`), or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}, got {value}")
    return value


def check_writer_resolution(name: str, value: int) -> int:
    """A resolution the renderer supports, or a ValueError naming the argument."""
    try:
        return check_resolution(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def check_seed(seed: int) -> int:
    """A non-negative int seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return seed


def check_choices(name: str, values: Sequence[Any], allowed: Sequence[Any]) -> tuple[Any, ...]:
    """A non-empty tuple of distinct values drawn from `allowed`."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise ValueError(f"{name} must be a sequence of values from {list(allowed)}")
    out = tuple(values)
    if not out:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in out if v not in allowed or isinstance(v, bool)]
    if bad:
        raise ValueError(f"{name} has unknown values {bad}; use values from {list(allowed)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicates: {list(out)}")
    return out


# --- deterministic choices --------------------------------------------------------------------
def seeded_rng(seed: int, salt: str) -> np.random.Generator:
    """A generator for one writer: the same seed gives other identities in other writers."""
    return np.random.default_rng([check_seed(seed), zlib.crc32(salt.encode())])


def pick_identities(rng: np.random.Generator, n: int) -> list[int]:
    """`n` distinct consecutive ids from the SynthFaces test range, starting at a drawn offset."""
    start = int(rng.integers(0, len(TEST_IDENTITIES) - n + 1))
    return [TEST_IDENTITIES[start + k] for k in range(n)]


def balanced(rng: np.random.Generator, n: int, choices: Sequence[Any]) -> list[Any]:
    """`n` items cycling through `choices` (counts differ by at most one), shuffled."""
    order = rng.permutation(n)
    return [choices[int(k) % len(choices)] for k in order]


def draw_intensity(rng: np.random.Generator, low: float, high: float) -> float:
    """An expression intensity on the 0..5 scale, rounded to 2 decimals."""
    return round(float(rng.uniform(low, high)), 2)


def prototype_aus(expression: str, intensity: float) -> list[float]:
    """The 17 AU intensities of an expression prototype at `intensity` (exact float32 values)."""
    return [float(v) for v in expression_aus(EXPRESSION_INDEX[expression], intensity)]


def face_record(identity: int, expression: str, intensity: float) -> dict[str, Any]:
    """The manifest fields every writer shares (neutral faces get intensity 0)."""
    intensity = 0.0 if expression == "neutral" else intensity
    return {
        "identity": identity,
        "expression": expression,
        "intensity": intensity,
        "aus": prototype_aus(expression, intensity),
    }


# --- rendering and image files ----------------------------------------------------------------
def render_faces(records: Sequence[Mapping[str, Any]], resolution: int) -> Iterator[Face]:
    """Render each record's identity and AUs, in memory-bounded batches, as numpy faces."""
    ids = torch.tensor([r["identity"] for r in records], dtype=torch.int64)
    aus = torch.tensor([r["aus"] for r in records], dtype=torch.float32).reshape(-1, NUM_AUS)
    batch = max(1, MAX_BATCH_PIXELS // (resolution * resolution))
    for start in range(0, len(records), batch):
        out = render(ids[start : start + batch], aus[start : start + batch], resolution)
        images = to_uint8(out["image"])
        for k in range(images.shape[0]):
            yield Face(images[k], out["mask"][k].numpy(), out["landmarks"][k].numpy())


def save_jpeg(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 picture as a JPEG (quality 95), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def landmark_points(landmarks: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> list[list[float]]:
    """Landmarks as a JSON-friendly list of [x, y], shifted by (dx, dy)."""
    return [[float(x) + dx, float(y) + dy] for x, y in landmarks]


def portrait(
    face: Face, aspect: tuple[int, int], top_fraction: float, colour: tuple[int, int, int]
) -> tuple[np.ndarray, int]:
    """A studio portrait: the face on a flat backdrop, high in a frame of the dataset's aspect.

    Background pixels of the render take the backdrop colour; the bottom row (torso and
    backdrop) is extended down to the frame's foot. Returns the picture and the face's y offset.
    """
    size = face.image.shape[1]
    height = round(size * aspect[1] / aspect[0])
    top = round(top_fraction * size)
    backdrop = np.array(colour, dtype=np.uint8)
    cut = np.where(face.mask[..., None] == PART_INDEX["background"], backdrop, face.image)
    canvas = np.empty((height, size, 3), dtype=np.uint8)
    canvas[:top] = backdrop
    canvas[top : top + size] = cut[: height - top]
    canvas[top + size :] = cut[-1]
    return canvas, top
