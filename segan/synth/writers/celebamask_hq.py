"""CelebAMask-HQ's layout: CelebA-HQ-img, the per-part mask PNGs, the CelebA mapping and
attribute files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segan.data.celebamask_hq import CELEBA_SPLIT_STARTS
from segan.labels import (
    EXPRESSIONS,
    FACE_PARTS,
    PART_INDEX,
)
from segan.synth.writers.common import (
    balanced,
    check_count,
    check_writer_resolution,
    draw_intensity,
    face_record,
    landmark_points,
    pick_identities,
    render_faces,
    save_jpeg,
    seeded_rng,
)

# --- CelebAMask-HQ ----------------------------------------------------------------------------
CELEBAMASK_PARTS: tuple[str, ...] = FACE_PARTS[1:]
CELEBA_IMAGES = 202_599
# The official CelebA split by 0-based image index, as the reader's split starts give it.
CELEBA_SPLITS: dict[str, tuple[int, int]] = {
    "train": (0, CELEBA_SPLIT_STARTS[0]),
    "val": CELEBA_SPLIT_STARTS,
    "test": (CELEBA_SPLIT_STARTS[1], CELEBA_IMAGES),
}
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
MASK_MODES = ("L", "RGB")


# --- CelebAMask-HQ ----------------------------------------------------------------------------
def _celeba_split_counts(n: int) -> dict[str, int]:
    """About 80/10/10 train/val/test, with at least one of each once n >= 3."""
    held = round(0.1 * n)
    if n >= 3:
        held = max(1, held)
    return {"train": n - 2 * held, "val": held, "test": held}


def _celeba_origins(rng: np.random.Generator, n: int) -> list[tuple[int, str]]:
    """(orig_idx, split) for each CelebA-HQ image: distinct indices from each official split."""
    picks: list[tuple[int, str]] = []
    for split, count in _celeba_split_counts(n).items():
        lo, hi = CELEBA_SPLITS[split]
        chosen = rng.choice(hi - lo, size=count, replace=False)
        picks += [(lo + int(k), split) for k in chosen]
    return [picks[int(k)] for k in rng.permutation(n)]


def _celeba_attributes(record: Mapping[str, Any], parts: set[str]) -> list[int]:
    """The 40 CelebA attributes (1/-1), set where the face shows them, otherwise -1."""
    on = {
        "Smiling": record["expression"] == "happy",
        "Eyeglasses": "eye_g" in parts,
        "Wearing_Hat": "hat" in parts,
        "Bald": "hair" not in parts and "hat" not in parts,
        "Wearing_Earrings": "ear_r" in parts,
        "Wearing_Necklace": "neck_l" in parts,
        "Mouth_Slightly_Open": "mouth" in parts,
        "No_Beard": True,
    }
    return [1 if on.get(name, False) else -1 for name in CELEBA_ATTRIBUTES]


def _write_part_masks(root: Path, index: int, mask: np.ndarray, mode: str) -> dict[str, str]:
    """One binary PNG (0/255) per part present in `mask`; returns {part: relative path}."""
    folder = f"CelebAMask-HQ-mask-anno/{index // 2000}"
    (root / folder).mkdir(parents=True, exist_ok=True)
    written = {}
    for part in CELEBAMASK_PARTS:
        binary = np.where(mask == PART_INDEX[part], 255, 0).astype(np.uint8)
        if not binary.any():
            continue
        rel = f"{folder}/{index:05d}_{part}.png"
        picture = Image.fromarray(binary, mode="L")
        picture = picture.convert("RGB") if mode == "RGB" else picture
        picture.save(root / rel, format="PNG")
        written[part] = rel
    return written


def _write_celeba_texts(root: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """The CelebA-HQ-to-CelebA mapping and the 40-attribute annotation files."""
    mapping = [f"{'idx':<12}{'orig_idx':<12}orig_file"]
    mapping += [f"{r['index']:<12}{r['orig_idx']:<12}{r['orig_file']}" for r in records]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    attributes = [str(len(records)), " ".join(CELEBA_ATTRIBUTES)]
    for r in records:
        values = " ".join(f"{r['attributes'][name]:2d}" for name in CELEBA_ATTRIBUTES)
        attributes.append(f"{r['index']}.jpg {values}")
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text("\n".join(attributes) + "\n")


def write_celebamask_hq(
    root: str | Path,
    n: int,
    image_resolution: int = 1024,
    mask_resolution: int = 512,
    seed: int = 0,
    mask_mode: str = "L",
) -> list[dict[str, Any]]:
    """Write `n` faces in the CelebAMask-HQ layout (images, per-part masks, mapping, attributes).

    Images are `CelebA-HQ-img/{i}.jpg`; masks are rendered again at `mask_resolution` (so they
    align with the image) and written as `CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png`
    for the parts present only. `mask_mode` "L" writes 8-bit grayscale PNGs, "RGB" three equal
    channels. Expressions are balanced, intensities 1..4; each image maps to a distinct CelebA
    index in the official train, val or test range (`split` in the manifest).
    """
    n = check_count("n", n)
    image_resolution = check_writer_resolution("image_resolution", image_resolution)
    mask_resolution = check_writer_resolution("mask_resolution", mask_resolution)
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {MASK_MODES}, got {mask_mode!r}")
    root = Path(root)
    rng = seeded_rng(seed, "celebamask_hq")
    identities = pick_identities(rng, n)
    expressions = balanced(rng, n, EXPRESSIONS)
    records = []
    for i, (orig_idx, split) in enumerate(_celeba_origins(rng, n)):
        record = face_record(identities[i], expressions[i], draw_intensity(rng, 1.0, 4.0))
        record.update(index=i, path=f"CelebA-HQ-img/{i}.jpg", orig_idx=orig_idx, split=split)
        record["orig_file"] = f"{orig_idx + 1:06d}.jpg"
        records.append(record)
    for record, face in zip(records, render_faces(records, image_resolution), strict=True):
        save_jpeg(root / record["path"], face.image)
        record["landmarks"] = landmark_points(face.landmarks)
    for record, face in zip(records, render_faces(records, mask_resolution), strict=True):
        record["mask_paths"] = _write_part_masks(root, record["index"], face.mask, mask_mode)
        record["parts"] = list(record["mask_paths"])
        values = _celeba_attributes(record, set(record["parts"]))
        record["attributes"] = dict(zip(CELEBA_ATTRIBUTES, values, strict=True))
    _write_celeba_texts(root, records)
    return records
