"""FFHQ-style folders of aligned real faces, with the labels `segan annotate` computed.

Layout: one picture per face, named by its integer FFHQ id (`00000.jpg` .. `69999.png`), each
already aligned the FFHQ way (so the crop is the whole picture). NVlabs' FFHQ release at any
resolution, and the 128 and 256 px subsets in `../shared/data/ffhq/`, read alike.

Split by identity (each FFHQ id is a different photo, nearly always a different person): ids
4500-4999 are the held-out test faces nothing ever trains on, ids 4000-4499 validation, every
other id trains (`split_of`).

With `annotations` (the `.npz` `segan annotate` writes for the same folder) the items carry
`landmarks` (68 iBUG points), `aus` (17 intensities from the blendshapes), `expression` (the
AU rule of `segan.photos.aus`) and `mask` (the mesh's part mask, 255 where the mesh says
nothing); pictures the Landmarker found no face in are dropped and counted. Without them the
items are `image` and `identity` only (enough for realism scores).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from segan.data.records import (
    DataError,
    FaceDataset,
    FaceRecord,
    MaskError,
    check_folder,
    check_split,
)
from segan.photos.annotate import AnnotationError, Annotations
from segan.photos.faces import CropBox, centre_square
from segan.photos.images import IMAGE_SUFFIXES, Photo, SkipLog
from segan.photos.parts import mesh_part_mask

__all__ = ["FFHQ", "HELD_OUT", "VALIDATION", "split_of"]

HELD_OUT = range(4500, 5000)  # test identities: never trained on
VALIDATION = range(4000, 4500)


def split_of(face_id: int) -> str:
    """'test', 'val' or 'train' for an FFHQ id."""
    return "test" if face_id in HELD_OUT else "val" if face_id in VALIDATION else "train"


class FFHQ(FaceDataset):
    """Aligned FFHQ faces of one split (see the module docstring)."""

    name = "ffhq"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 128,
        annotations: str | Path | Annotations | None = None,
        aus=None,
    ):
        self.root = check_folder(root, "FFHQ")
        self.split = check_split(split)
        if aus is not None:
            raise DataError("FFHQ's AUs come from its annotations (--option annotations=FILE)")
        labels = None
        if annotations is not None:
            try:
                labels = (
                    annotations
                    if isinstance(annotations, Annotations)
                    else Annotations.load(annotations)
                )
            except AnnotationError as err:
                raise DataError(str(err)) from None
        self.labels = labels
        self.has_masks = labels is not None
        self._mesh: dict[Path, np.ndarray] = {}
        dropped: Counter = Counter()
        records = []
        if labels is not None:
            landmarks, au, expression = labels.landmarks(), labels.aus(), labels.expressions()
        files = sorted(p for p in self.root.iterdir() if p.is_file())
        for path in files:
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.stem.isdigit():
                if not path.name.startswith("."):
                    dropped["not an FFHQ picture (NNNNN.jpg)"] += 1
                continue
            face_id = int(path.stem)
            if split != "all" and split_of(face_id) != split:
                continue
            record = FaceRecord(path, identity=face_id)
            if labels is not None:
                k = labels.index(path.name)
                if k is None:
                    dropped["not in the annotations"] += 1
                    continue
                if not labels.found[k]:
                    dropped["no face found by the landmarker"] += 1
                    continue
                record.landmarks = landmarks[k]
                record.aus = au[k]
                record.expression = int(expression[k])
                self._mesh[path] = labels.mesh(k)
                record.meta["annotated_size"] = tuple(int(v) for v in labels.sizes[k])
            records.append(record)
        if not records:
            raise DataError(f"{self.root} holds no FFHQ pictures of split {split!r}")
        self.place = _whole
        super().__init__(records, resolution, SkipLog(), dropped)

    def read_mask(self, record: FaceRecord, photo: Photo, box: CropBox) -> np.ndarray:
        annotated = record.meta["annotated_size"]
        if tuple(photo.size) != annotated:
            raise MaskError(
                f"{record.path} is {photo.size[0]}x{photo.size[1]} but was annotated at "
                f"{annotated[0]}x{annotated[1]}: annotate this folder (`segan annotate`)"
            )
        return mesh_part_mask(
            box.to_crop(self._mesh[record.path], self.resolution), self.resolution
        )


def _whole(record: FaceRecord, photo: Photo) -> CropBox:
    return centre_square(*photo.size)
