"""KDEF as published: `KDEF/{session}{gender}{id}/{session}{gender}{id}{expr}{angle}.JPG`.

Expression codes AF, AN, DI, HA, NE, SA, SU map to fear, anger, disgust, happy, neutral, sad,
surprise (KDEF has no contempt); angle S (straight) is the default, FL/HL/HR/FR the others.
A subject (gender + number, e.g. F07) is one identity across both sessions A and B; the split is
by subject (a hash, 80/10/10). The crop is one fixed square (the full width, 10% of the width
from the top) or, with `crop="detect"`, around the detected face.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from segan.data.images import SkipLog
from segan.data.records import (
    FaceDataset,
    FaceRecord,
    check_folder,
    check_split,
    portrait_crop,
    subject_split,
)
from segan.labels import EXPRESSION_INDEX, KDEF_EXPRESSIONS

__all__ = ["KDEF", "KDEF_NAME", "parse_kdef_name"]

KDEF_NAME = re.compile(
    r"^(?P<session>[AB])(?P<gender>[FM])(?P<number>\d{2})"
    r"(?P<code>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|HL|S|HR|FR)$"
)
KDEF_CROP = (0.1, 1.0)


def parse_kdef_name(name: str) -> dict[str, str] | None:
    """The fields of a KDEF file name, or None if it is not one."""
    match = KDEF_NAME.match(Path(name).stem.upper())
    return None if match is None else match.groupdict()


def kdef_identity(gender: str, number: str) -> int:
    """Women F01..F35 -> 1..35, men M01..M35 -> 101..135."""
    return (0 if gender == "F" else 100) + int(number)


class KDEF(FaceDataset):
    """KDEF portraits of 7 expressions. Items: `image`, `expression`, `identity`, and `aus`
    when OpenFace AUs are given."""

    name = "KDEF"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 128,
        angles: Sequence[str] = ("S",),
        sessions: Sequence[str] = ("A", "B"),
        crop: str | tuple[float, float] = "fixed",
        seed: int = 0,
        aus: Mapping[str, np.ndarray] | None = None,
    ):
        root = check_folder(root, "KDEF root")
        self.root = root / "KDEF" if (root / "KDEF").is_dir() else root
        self.split = check_split(split)
        self.place = portrait_crop(crop, KDEF_CROP)
        dropped: Counter = Counter()
        records = []
        for path in sorted(self.root.rglob("*")):
            if path.suffix.lower() not in (".jpg", ".jpeg"):
                continue
            fields = parse_kdef_name(path.name)
            if fields is None:
                dropped["not a KDEF name"] += 1
                continue
            if fields["angle"] not in angles or fields["session"] not in sessions:
                continue
            subject = fields["gender"] + fields["number"]
            if split != "all" and subject_split(f"kdef{subject}", seed) != split:
                continue
            records.append(
                FaceRecord(
                    path,
                    EXPRESSION_INDEX[KDEF_EXPRESSIONS[fields["code"]]],
                    identity=kdef_identity(fields["gender"], fields["number"]),
                    meta=fields,
                )
            )
        super().__init__(records, resolution, SkipLog(), dropped, aus)
