"""KDEF as published: `KDEF/{session}{gender}{id}/{session}{gender}{id}{expr}{angle}.JPG`.

Expression codes AF, AN, DI, HA, NE, SA, SU map to fear, anger, disgust, happy, neutral, sad,
surprise (KDEF has no contempt); angle S (straight) is the default, FL/HL/HR/FR the others.
A subject (gender + number, e.g. F07) is one identity across both sessions A and B; the split is
by subject (a hash, 80/10/10). The crop is one fixed square (the full width, 10% of the width
from the top) or, with `crop="detect"`, around the detected face.

The release holds all-black placeholder pictures where a shot is missing; the fixed crop would
keep them as faces, so pictures with no content (grey levels within `images.BLANK_RANGE`) are
left out with `skip_blank` (the default): listed in `dataset.blank`, counted in
`dataset.dropped["blank placeholder"]` and logged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from segan.data.records import (
    FaceDataset,
    FaceRecord,
    check_folder,
    check_split,
    portrait_crop,
    subject_split,
)
from segan.labels import EXPRESSION_INDEX, KDEF_EXPRESSIONS
from segan.photos.images import SkipLog, is_blank

__all__ = ["KDEF", "KDEF_NAME", "parse_kdef_name"]

KDEF_NAME = re.compile(
    r"^(?P<session>[AB])(?P<gender>[FM])(?P<number>\d{2})"
    r"(?P<code>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|HL|S|HR|FR)$"
)
KDEF_CROP = (0.1, 1.0)
BLANK_REASON = "blank placeholder"

log = logging.getLogger(__name__)


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
        skip_blank: bool = True,
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
        self.blank: list[Path] = []
        if skip_blank:
            records = self._without_blank(records, dropped)
        super().__init__(records, resolution, SkipLog(), dropped, aus)

    def _without_blank(self, records: list[FaceRecord], dropped: Counter) -> list[FaceRecord]:
        """`records` less the blank placeholders, which are listed in `self.blank`, counted and
        logged."""
        kept = []
        for record in records:
            if is_blank(record.path):
                self.blank.append(record.path)
            else:
                kept.append(record)
        if self.blank:
            dropped[BLANK_REASON] += len(self.blank)
            log.warning(
                "KDEF: skipped %d blank placeholder picture(s) with no content, e.g. %s",
                len(self.blank),
                self.blank[0],
            )
        return kept
