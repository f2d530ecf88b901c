"""CelebAMask-HQ as published: 30,000 aligned faces with per-part binary masks.

Layout (switchablenorms/CelebAMask-HQ): `CelebA-HQ-img/{i}.jpg` (1024 px),
`CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png` (512 px, only the parts present),
`CelebA-HQ-to-CelebA-mapping.txt` (`idx orig_idx orig_file`, header optional). The part PNGs
are fused into one 19-class mask in segan's order, painting parts in class order so the later
class wins where masks overlap (hat over hair over cloth over necklace over neck over the face
parts over skin): the precedence of face-parsing.PyTorch's `prepropess_data.py`, so the labels
match what the public BiSeNet weights were trained on. The split is CelebAMask-HQ's official
one (its `g_partition.py`): on the mapping's `orig_idx`, train < 162,771 <= val < 182,638 <=
test, which gives the commonly quoted 24,183 / 2,993 / 2,824 images. (orig_idx is 0-based, so
this rule sits one picture later than CelebA's own list_eval_partition; we keep the rule every
published CelebAMask-HQ result used.)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from segan.data.records import (
    DataError,
    FaceDataset,
    FaceRecord,
    MaskError,
    check_folder,
    check_split,
)
from segan.labels import FACE_PARTS, PART_INDEX
from segan.photos.faces import CropBox, centre_square, crop_mask
from segan.photos.images import ImageReadError, Photo, SkipLog

__all__ = ["CELEBA_SPLIT_STARTS", "CelebAMaskHQ", "read_mapping"]

IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
# First orig_idx of the val and test splits, as CelebAMask-HQ's g_partition.py compares them.
CELEBA_SPLIT_STARTS = (162_771, 182_638)
_MASK_NAME = re.compile(r"^(\d+)_([a-z_]+)\.png$")
# Paint order: segan's class order, later wins (face-parsing.PyTorch's fusion).
FUSION_ORDER: tuple[str, ...] = FACE_PARTS[1:]


def official_split(orig_idx: int) -> str:
    """The CelebA split of a 0-based CelebA image index (orig_idx; file orig_idx + 1)."""
    val, test = CELEBA_SPLIT_STARTS
    return "train" if orig_idx < val else "val" if orig_idx < test else "test"


def read_mapping(path: Path) -> dict[int, int]:
    """CelebA-HQ index -> 0-based CelebA index, from the mapping file (header line optional)."""
    if not path.is_file():
        raise DataError(f"CelebAMask-HQ mapping file {path} does not exist (needed for the split)")
    out: dict[int, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if not (fields[0].isdigit() and len(fields) >= 2 and fields[1].isdigit()):
            if number == 1:
                continue  # the header: idx orig_idx orig_file
            raise DataError(f"{path}:{number}: expected 'idx orig_idx orig_file', got {line!r}")
        out[int(fields[0])] = int(fields[1])
    return out


def _mask_files(root: Path) -> dict[int, dict[str, Path]]:
    """Image index -> {part: mask file} for every part PNG under the annotation folder."""
    found: dict[int, dict[str, Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in folder.iterdir():
            match = _MASK_NAME.match(path.name)
            if match and match.group(2) in PART_INDEX and match.group(2) != "background":
                found.setdefault(int(match.group(1)), {})[match.group(2)] = path
    return found


class CelebAMaskHQ(FaceDataset):
    """CelebAMask-HQ images with fused 19-class masks, resized to `resolution` (nearest for
    masks). Items: `image`, `mask`. `split` is train/val/test (official) or all."""

    name = "CelebAMask-HQ"
    has_masks = True

    def __init__(self, root: str | Path, split: str = "train", resolution: int = 512):
        self.root = check_folder(root, "CelebAMask-HQ root")
        split = check_split(split)
        images = check_folder(self.root / IMAGE_DIR, f"CelebAMask-HQ images ({IMAGE_DIR})")
        masks = check_folder(self.root / MASK_DIR, f"CelebAMask-HQ masks ({MASK_DIR})")
        mapping = read_mapping(self.root / MAPPING_FILE) if split != "all" else {}
        self.mask_files = _mask_files(masks)
        dropped: Counter = Counter()
        records = []
        for path in sorted(images.iterdir(), key=lambda p: (len(p.stem), p.stem)):
            if not (path.stem.isdigit() and path.suffix.lower() in (".jpg", ".jpeg", ".png")):
                continue
            index = int(path.stem)
            if split != "all":
                if index not in mapping:
                    dropped["not in the mapping file"] += 1
                    continue
                if official_split(mapping[index]) != split:
                    continue
            if index not in self.mask_files:
                dropped["no mask files"] += 1
                continue
            records.append(FaceRecord(path=path, meta={"index": index}))
        self.split = split
        super().__init__(records, resolution, SkipLog(), dropped)

    def crop_box(self, record: FaceRecord, photo: Photo) -> CropBox:
        """The whole (aligned) picture; a centred square if it is not square."""
        return centre_square(*photo.size)

    def fused_mask(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """The (H, W) uint8 class mask of image `index` at the masks' own size; `size` (w, h)
        of the image, when given, is checked against the masks' aspect."""
        files = self.mask_files[index]
        mask = None
        for part in FUSION_ORDER:
            path = files.get(part)
            if path is None:
                continue
            try:
                with Image.open(path) as picture:
                    binary = np.asarray(picture.convert("L")) > 127
            except (OSError, SyntaxError, ValueError) as err:
                raise ImageReadError(str(path), f"cannot decode mask ({err})") from None
            if mask is None:
                mask = np.zeros(binary.shape, np.uint8)
                first = path
            if binary.shape != mask.shape:
                raise MaskError(
                    f"mask {path.name} is {binary.shape[1]}x{binary.shape[0]} but "
                    f"{first.name} is {mask.shape[1]}x{mask.shape[0]}"
                )
            mask[binary] = PART_INDEX[part]
        assert mask is not None  # records only exist for images with mask files
        if size is not None and size[0] * mask.shape[0] != size[1] * mask.shape[1]:
            raise MaskError(
                f"mask {first.name} is {mask.shape[1]}x{mask.shape[0]}, which does not fit "
                f"image {index}.jpg of {size[0]}x{size[1]}"
            )
        return mask

    def read_mask(self, record: FaceRecord, photo: Photo, box: CropBox) -> np.ndarray:
        mask = self.fused_mask(record.meta["index"], photo.size)
        return crop_mask(mask, box, self.resolution, scale=mask.shape[1] / photo.size[0])

    def indices(self) -> list[int]:
        """CelebA-HQ image numbers of the items, in item order."""
        return [r.meta["index"] for r in self.records]


def split_counts(mapping: Mapping[int, int]) -> Counter:
    """How many mapped images fall in each official split."""
    return Counter(official_split(v) for v in mapping.values())
