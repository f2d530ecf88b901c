"""Users' own pictures: one folder per expression, e.g. `root/happy/*.jpg`, `root/sad/*.png`.

Folder names are segan's expression names or the usual variants (RaFD's angry, surprised, ...,
and happiness, sadness); any other folder stops with a message naming it. By default the face
is found in every picture (`crop="detect"`, pictures without a face are skipped and counted);
`crop="none"` takes the centred square of pictures that are already face crops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from segan.data.records import DataError, FaceDataset, FaceRecord, check_folder, detected_crop
from segan.labels import EXPRESSION_INDEX, EXPRESSIONS, RAFD_EXPRESSIONS
from segan.photos.faces import DEFAULT_SCALE, CropBox, centre_square
from segan.photos.images import IMAGE_SUFFIXES, Photo, SkipLog

__all__ = ["FOLDER_NAMES", "ImageFolderExpressions"]

# Folder name (lower case) -> segan expression name.
FOLDER_NAMES: dict[str, str] = {
    **{name: name for name in EXPRESSIONS},
    **RAFD_EXPRESSIONS,
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "angry": "anger",
    "contemptuous": "contempt",
}
CROPS = ("detect", "none")


class ImageFolderExpressions(FaceDataset):
    """Pictures sorted into expression folders. Items: `image`, `expression`, and `aus` when
    OpenFace AUs are given."""

    name = "image folder"

    def __init__(
        self,
        root: str | Path,
        resolution: int = 128,
        crop: str = "detect",
        scale: float = DEFAULT_SCALE,
        aus: Mapping[str, np.ndarray] | None = None,
    ):
        self.root = check_folder(root, "expression")
        if crop not in CROPS:
            raise DataError(f"crop must be one of {CROPS}, got {crop!r}")
        self.crop, self.scale = crop, float(scale)
        self.place = detected_crop(self.scale) if crop == "detect" else _centre
        folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        unknown = [p.name for p in folders if p.name.lower() not in FOLDER_NAMES]
        if unknown:
            raise DataError(
                f"{self.root}: folders {unknown} are not expression names; use one of "
                f"{', '.join(sorted(FOLDER_NAMES))}"
            )
        if not folders:
            raise DataError(f"{self.root} has no expression folders (e.g. {self.root}/happy/)")
        dropped: Counter = Counter()
        records = []
        for folder in folders:
            expression = EXPRESSION_INDEX[FOLDER_NAMES[folder.name.lower()]]
            for path in sorted(folder.rglob("*")):
                if not path.is_file() or path.name.startswith("."):
                    continue
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    dropped["not an image file"] += 1
                    continue
                records.append(FaceRecord(path, expression))
        super().__init__(records, resolution, SkipLog(), dropped, aus)


def _centre(record: FaceRecord, photo: Photo) -> CropBox:
    return centre_square(*photo.size)
