"""RaFD as published: one folder of portraits named by their content.

Names: `Rafd{angle:03d}_{subject:02d}_{ethnicity}_{gender}_{emotion}_{gaze}.jpg`, e.g.
`Rafd090_01_Caucasian_female_angry_frontal.jpg`. Camera angle 090 is frontal (the default);
emotions map to segan's names (angry -> anger, ...). The split is by subject (a hash of the
subject number, 80/10/10), so no person is in two splits. The crop follows StarGAN's RaFD
recipe: one fixed square for every picture (the studio framing is the same), by default the
full width starting 12% of the width from the top; `crop="detect"` finds the face instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from segan.data.records import (
    DataError,
    FaceDataset,
    FaceRecord,
    check_folder,
    check_split,
    portrait_crop,
    subject_split,
)
from segan.labels import EXPRESSION_INDEX, RAFD_EXPRESSIONS
from segan.photos.images import IMAGE_SUFFIXES, SkipLog

__all__ = ["RAFD_NAME", "RaFD", "parse_rafd_name"]

RAFD_NAME = re.compile(
    r"^Rafd(?P<angle>\d{3})_(?P<subject>\d{2,3})_(?P<ethnicity>[A-Za-z]+)_"
    r"(?P<gender>female|male)_(?P<emotion>[a-z]+)_(?P<gaze>frontal|left|right)$"
)
RAFD_CROP = (0.12, 1.0)  # (top, side) as fractions of the picture's width


def parse_rafd_name(name: str) -> dict[str, str | int] | None:
    """The fields of a RaFD file name (angle and subject as ints), or None if it is not one."""
    match = RAFD_NAME.match(Path(name).stem)
    if match is None:
        return None
    fields: dict[str, str | int] = dict(match.groupdict())
    fields["angle"], fields["subject"] = int(match["angle"]), int(match["subject"])
    return fields


class RaFD(FaceDataset):
    """RaFD portraits of the 8 expressions. Items: `image`, `expression`, `identity` (the
    subject number), and `aus` when OpenFace AUs are given."""

    name = "RaFD"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 128,
        angles: Sequence[int] = (90,),
        gazes: Sequence[str] = ("frontal", "left", "right"),
        crop: str | tuple[float, float] = "fixed",
        seed: int = 0,
        aus: Mapping[str, np.ndarray] | None = None,
    ):
        self.root = check_folder(root, "RaFD")
        self.split = check_split(split)
        self.place = portrait_crop(crop, RAFD_CROP)
        dropped: Counter = Counter()
        records = []
        for path in sorted(self.root.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            fields = parse_rafd_name(path.name)
            if fields is None:
                dropped["not a RaFD name"] += 1
                continue
            if fields["emotion"] not in RAFD_EXPRESSIONS:
                raise DataError(
                    f"{path.name}: unknown RaFD emotion {fields['emotion']!r}; "
                    f"known: {sorted(RAFD_EXPRESSIONS)}"
                )
            if fields["angle"] not in angles or fields["gaze"] not in gazes:
                continue
            if split != "all" and subject_split(f"rafd{fields['subject']}", seed) != split:
                continue
            expression = EXPRESSION_INDEX[RAFD_EXPRESSIONS[str(fields["emotion"])]]
            records.append(
                FaceRecord(path, expression, identity=int(fields["subject"]), meta=fields)
            )
        if not records and not any(self.root.iterdir()):
            raise DataError(f"RaFD folder {self.root} is empty")
        super().__init__(records, resolution, SkipLog(), dropped, aus)
