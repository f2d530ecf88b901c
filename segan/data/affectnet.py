"""AffectNet as published: `Manually_Annotated_Images/` and the file-list CSVs.

Columns are read by name: `subDirectory_filePath, face_x, face_y, face_width, face_height,
facial_landmarks, expression, valence, arousal`. Expression codes 0..7 are segan's order
(neutral, happy, sad, surprise, fear, disgust, anger, contempt); rows with codes 8 (None),
9 (Uncertain) and 10 (Non-Face) are dropped and counted. The crop is a square around the
annotated face box, `scale` times its longer side: 1.5, a 25% margin each side, which frames the
face as SynthFaces and CelebA-HQ do (landmarks spanning about 45% of the crop's width), so models
trained on either see the same framing. The 68 landmarks come along in crop pixels (boxhgan).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from segan.data.images import SkipLog
from segan.data.records import DataError, FaceDataset, FaceRecord, check_folder
from segan.labels import AFFECTNET_NON_EXPRESSION_CODES, NUM_EXPRESSIONS

__all__ = ["AFFECTNET_COLUMNS", "AffectNet"]

AFFECTNET_COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
IMAGE_DIR = "Manually_Annotated_Images"
LIST_DIR = "Manually_Annotated_file_lists"
CSV_NAMES = {"training": "training.csv", "validation": "validation.csv"}
AFFECTNET_SCALE = 1.5


def _csv_path(root: Path, csv_file: str | Path) -> Path:
    """'training'/'validation' (the published lists) or a CSV path (absolute, or under root)."""
    name = str(csv_file)
    if name in CSV_NAMES:
        path = root / LIST_DIR / CSV_NAMES[name]
    else:
        path = Path(csv_file)
        path = path if path.is_absolute() or path.exists() else root / path
    if not path.is_file():
        raise DataError(f"AffectNet file list {path} does not exist")
    return path


def _landmarks(text: str) -> np.ndarray | None:
    """The 136 semicolon-separated values as (68, 2) x, y; None when absent or all -1."""
    values = [v for v in text.replace(",", ";").split(";") if v.strip()]
    if len(values) != 136:
        return None
    points = np.asarray([float(v) for v in values], np.float64).reshape(68, 2)
    return None if (points < 0).all() else points


def _row_record(images: Path, row: Mapping[str, str]) -> FaceRecord:
    """One expression row as a record (raises ValueError on a malformed value)."""
    box = tuple(float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"face box {box} has no area")
    landmarks = _landmarks(row["facial_landmarks"])
    return FaceRecord(
        path=images / row["subDirectory_filePath"].strip(),
        expression=int(row["expression"]),
        landmarks=landmarks,
        face=box,  # type: ignore[arg-type]
        extra={"valence": float(row["valence"]), "arousal": float(row["arousal"])},
    )


class AffectNet(FaceDataset):
    """AffectNet faces of the 8 expressions. Items: `image`, `expression`, `landmarks` (when
    every row has them), `valence`, `arousal`, and `aus` when OpenFace AUs are given."""

    name = "AffectNet"

    def __init__(
        self,
        root: str | Path,
        csv_file: str | Path = "training",
        resolution: int = 128,
        scale: float = AFFECTNET_SCALE,
        aus: Mapping[str, np.ndarray] | None = None,
        check_files: bool = True,
    ):
        self.root = check_folder(root, "AffectNet root")
        images = check_folder(self.root / IMAGE_DIR, f"AffectNet images ({IMAGE_DIR})")
        self.csv_path = _csv_path(self.root, csv_file)
        self.scale = float(scale)
        dropped: Counter = Counter()
        skipped = SkipLog()
        records = []
        with self.csv_path.open(newline="") as handle:
            reader = csv.DictReader(handle, skipinitialspace=True)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in AFFECTNET_COLUMNS if c not in columns]
            if missing:
                raise DataError(f"{self.csv_path}: missing columns {missing}; found {columns}")
            reader.fieldnames = columns
            for line, row in enumerate(reader, 2):
                try:
                    code = int(row["expression"])
                except (TypeError, ValueError):
                    raise DataError(
                        f"{self.csv_path}:{line}: expression {row['expression']!r} is not a code"
                    ) from None
                if code in AFFECTNET_NON_EXPRESSION_CODES:
                    dropped[f"code {code} ({AFFECTNET_NON_EXPRESSION_CODES[code]})"] += 1
                    continue
                if not 0 <= code < NUM_EXPRESSIONS:
                    raise DataError(f"{self.csv_path}:{line}: unknown expression code {code}")
                try:
                    record = _row_record(images, row)
                except (TypeError, ValueError) as err:
                    raise DataError(f"{self.csv_path}:{line}: {err}") from None
                if check_files and not record.path.is_file():
                    skipped.add(record.path, "no such file")
                    continue
                records.append(record)
        if records and any(r.landmarks is None for r in records):
            for record in records:  # landmarks only when every face has them
                record.landmarks = None
        super().__init__(records, resolution, skipped, dropped, aus)
