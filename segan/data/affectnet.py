"""AffectNet in the two layouts people hold: the publisher's release and the re-packaged copy.

The publisher's release is `Manually_Annotated_Images/` plus the file lists
`Manually_Annotated_file_lists/{training,validation}.csv`. Columns are read by name:
`subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks, expression,
valence, arousal`. Copies in circulation differ in two ways, both read: the header spelled
`#subDirectory_filePath` (a leading '#'), and `validation.csv` without its header row (a file
whose first row is data is read in the column order above, the order AffectNet documents).
A cell that is empty or not a number stops the reader with the file, line and column.

The re-packaged copy is `train_set/` and `val_set/`, each `images/{N}.jpg` (face crops) and
`annotations/{N}_exp.npy, {N}_val.npy, {N}_aro.npy, {N}_lnd.npy` (expression code, valence,
arousal, 136 landmark values x0, y0, x1, y1, ... in the picture's pixels). "training" reads
`train_set`, "validation" reads `val_set`, as the file lists are mapped. Its pictures are already
face crops, so the crop is the whole picture (`scale` 1.0 unless given); a picture whose
annotations are missing or unreadable is skipped and counted.

Expression codes 0..7 are segan's order (neutral, happy, sad, surprise, fear, disgust, anger,
contempt); rows with codes 8 (None), 9 (Uncertain) and 10 (Non-Face) are dropped and counted.
In the publisher's layout the crop is a square around the annotated face box, `scale` times its
longer side: 1.5, a 25% margin each side, which frames the face as SynthFaces and CelebA-HQ do
(landmarks spanning about 45% of the crop's width), so models trained on either see the same
framing. The 68 landmarks come along in crop pixels (boxhgan).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from segan.data.records import (
    DataError,
    FaceDataset,
    FaceRecord,
    check_folder,
    csv_float,
    csv_int,
)
from segan.labels import AFFECTNET_NON_EXPRESSION_CODES, NUM_EXPRESSIONS
from segan.photos.faces import CropBox, square_box
from segan.photos.images import Photo, SkipLog

__all__ = ["AFFECTNET_COLUMNS", "AffectNet", "affectnet_layout"]

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
BOX_COLUMNS = ("face_x", "face_y", "face_width", "face_height")
IMAGE_DIR = "Manually_Annotated_Images"
LIST_DIR = "Manually_Annotated_file_lists"
CSV_NAMES = {"training": "training.csv", "validation": "validation.csv"}
SET_DIRS = {"training": "train_set", "validation": "val_set"}
ANNOTATIONS = ("exp", "val", "aro", "lnd")  # {N}_{kind}.npy in the re-packaged copy
AFFECTNET_SCALE = 1.5
REPACKAGED_SCALE = 1.0
NUM_LANDMARK_VALUES = 136


def affectnet_layout(root: Path) -> str:
    """'published' (Manually_Annotated_Images/) or 'repackaged' (train_set/, val_set/)."""
    if (root / IMAGE_DIR).is_dir():
        return "published"
    if any((root / name).is_dir() for name in SET_DIRS.values()):
        return "repackaged"
    raise DataError(
        f"{root} holds neither AffectNet's {IMAGE_DIR}/ (with {LIST_DIR}/) nor the re-packaged "
        f"{'/ and '.join(SET_DIRS.values())}/"
    )


# --- the publisher's file lists ---------------------------------------------------------------
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


def _column_name(text: str) -> str:
    """A header cell as a column name: spaces and a leading '#' removed."""
    return text.strip().lstrip("#").strip()


def _is_data_row(values: list[str]) -> bool:
    """Whether a first row is data in the documented column order (the face box is numbers)."""
    if len(values) != len(AFFECTNET_COLUMNS):
        return False
    try:
        [float(values[AFFECTNET_COLUMNS.index(c)]) for c in BOX_COLUMNS]
    except ValueError:
        return False
    return True


def _columns(path: Path, first: list[str]) -> list[str] | None:
    """The column names a file list's first row gives, or None when that row is data."""
    names = [_column_name(v) for v in first]
    if not set(names) & set(AFFECTNET_COLUMNS) and _is_data_row(first):
        return None
    missing = [c for c in AFFECTNET_COLUMNS if c not in names]
    if missing:
        raise DataError(f"{path}: missing columns {missing}; found {names}")
    return names


def read_file_list(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by column name) of an AffectNet file list, with or without header."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        first = next(reader, None)
        if first is None:
            raise DataError(f"{path}: empty file, no AffectNet header or rows")
        columns = _columns(path, first)
        if columns is None:  # headerless: the first row is data
            columns = list(AFFECTNET_COLUMNS)
            yield reader.line_num, dict(zip(columns, first, strict=True))
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            values = values + [""] * (len(columns) - len(values))
            yield reader.line_num, dict(zip(columns, values, strict=False))


def _landmarks(path: Path, line: int, text: str) -> np.ndarray | None:
    """The 136 semicolon-separated values as (68, 2) x, y; None when absent or all -1."""
    values = [v for v in text.replace(",", ";").split(";") if v.strip()]
    if len(values) != NUM_LANDMARK_VALUES:
        return None
    numbers = [csv_float(path, line, "facial_landmarks", v) for v in values]
    points = np.asarray(numbers, np.float64).reshape(68, 2)
    return None if (points < 0).all() else points


def _row_record(path: Path, line: int, images: Path, row: Mapping[str, str]) -> FaceRecord:
    """One expression row as a record; a DataError names the file, line and column."""
    box = tuple(csv_float(path, line, key, row[key]) for key in BOX_COLUMNS)
    if box[2] <= 0 or box[3] <= 0:
        raise DataError(f"{path}, line {line}: face box {box} has no area")
    name = row["subDirectory_filePath"].strip()
    if not name:
        raise DataError(f"{path}, line {line}, column subDirectory_filePath: empty")
    return FaceRecord(
        path=images / name,
        expression=csv_int(path, line, "expression", row["expression"]),
        landmarks=_landmarks(path, line, row["facial_landmarks"]),
        face=box,  # type: ignore[arg-type]
        extra={
            "valence": csv_float(path, line, "valence", row["valence"]),
            "arousal": csv_float(path, line, "arousal", row["arousal"]),
        },
    )


def _kept_code(where: str, code: int, dropped: Counter) -> bool:
    """True for an expression code 0..7; codes 8..10 are counted in `dropped`; others raise."""
    if code in AFFECTNET_NON_EXPRESSION_CODES:
        dropped[f"code {code} ({AFFECTNET_NON_EXPRESSION_CODES[code]})"] += 1
        return False
    if not 0 <= code < NUM_EXPRESSIONS:
        raise DataError(f"{where}: unknown expression code {code} (AffectNet uses 0..10)")
    return True


def _list_records(
    path: Path, images: Path, dropped: Counter, skipped: SkipLog, check_files: bool
) -> list[FaceRecord]:
    """The records of a published file list, codes 8..10 dropped, missing files skipped."""
    records = []
    for line, row in read_file_list(path):
        code = csv_int(path, line, "expression", row["expression"])
        if not _kept_code(f"{path}, line {line}, column expression", code, dropped):
            continue
        record = _row_record(path, line, images, row)
        if check_files and not record.path.is_file():
            skipped.add(record.path, "no such file")
            continue
        records.append(record)
    return records


# --- the re-packaged copy ---------------------------------------------------------------------
def _npy_values(path: Path) -> np.ndarray:
    """A 1-D float array from an annotation .npy (numbers or numbers saved as text)."""
    try:
        return np.load(path, allow_pickle=False).reshape(-1).astype(np.float64)
    except (OSError, ValueError, TypeError, EOFError) as err:
        raise DataError(f"{path}: not a numeric .npy array ({err})") from None


def _npy_record(image: Path, annotations: Path) -> FaceRecord:
    """One re-packaged picture and its four annotation files; DataError names the bad file."""
    stem = image.stem
    values = {}
    for kind in ANNOTATIONS:
        path = annotations / f"{stem}_{kind}.npy"
        if not path.is_file():
            raise DataError(f"{path} does not exist")
        values[kind] = _npy_values(path)
    for kind, size in (("exp", 1), ("val", 1), ("aro", 1), ("lnd", NUM_LANDMARK_VALUES)):
        if values[kind].size != size:
            path = annotations / f"{stem}_{kind}.npy"
            raise DataError(f"{path}: {values[kind].size} values, expected {size}")
    code = float(values["exp"][0])
    if not code.is_integer():
        raise DataError(f"{annotations / f'{stem}_exp.npy'}: {code} is not an expression code")
    points = values["lnd"].reshape(68, 2)
    return FaceRecord(
        path=image,
        expression=int(code),
        landmarks=None if (points < 0).all() else points,
        extra={"valence": float(values["val"][0]), "arousal": float(values["aro"][0])},
    )


def _picture_number(path: Path) -> tuple[int, str]:
    """Sort key: numbered pictures by number, any others after them by name."""
    return (int(path.stem), "") if path.stem.isdigit() else (2**63, path.stem)


def _set_records(folder: Path, dropped: Counter, skipped: SkipLog) -> list[FaceRecord]:
    """The records of a re-packaged split folder, codes 8..10 dropped, unannotated skipped."""
    images = check_folder(folder / "images", "AffectNet pictures (images/)")
    annotations = check_folder(folder / "annotations", "AffectNet annotations (annotations/)")
    records = []
    pictures = [p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    for image in sorted(pictures, key=_picture_number):
        try:
            record = _npy_record(image, annotations)
        except DataError as err:
            skipped.add(image, f"no annotations ({err})")
            continue
        if _kept_code(str(annotations / f"{image.stem}_exp.npy"), record.expression, dropped):
            records.append(record)
    return records


def _set_folder(root: Path, csv_file: str | Path) -> Path:
    """The re-packaged split folder for 'training' or 'validation'."""
    name = str(csv_file)
    if name not in SET_DIRS:
        raise DataError(
            f"{root} is the re-packaged AffectNet ({', '.join(SET_DIRS.values())}): choose "
            f"'training' or 'validation', got {name!r}"
        )
    return check_folder(root / SET_DIRS[name], f"AffectNet {name} set ({SET_DIRS[name]}/)")


def _no_partial_landmarks(records: list[FaceRecord]) -> None:
    """Landmarks only when every face has them."""
    if records and any(r.landmarks is None for r in records):
        for record in records:
            record.landmarks = None


class AffectNet(FaceDataset):
    """AffectNet faces of the 8 expressions. Items: `image`, `expression`, `landmarks` (when
    every row has them), `valence`, `arousal`, and `aus` when OpenFace AUs are given.

    `csv_file` is "training" or "validation" (either layout) or, in the publisher's layout, the
    path of a file list. `scale` defaults to 1.5 (publisher's layout: a square around the face
    box) or 1.0 (re-packaged: the whole picture, already a face crop). `check_files` (the
    publisher's layout) skips rows whose picture is missing before any is read.
    """

    name = "AffectNet"

    def __init__(
        self,
        root: str | Path,
        csv_file: str | Path = "training",
        resolution: int = 128,
        scale: float | None = None,
        aus: Mapping[str, np.ndarray] | None = None,
        check_files: bool = True,
    ):
        self.root = check_folder(root, "AffectNet root")
        dropped: Counter = Counter()
        skipped = SkipLog()
        self.layout = affectnet_layout(self.root)
        if self.layout == "published":
            images = check_folder(self.root / IMAGE_DIR, f"AffectNet images ({IMAGE_DIR})")
            self.csv_path: Path | None = _csv_path(self.root, csv_file)
            self.source = self.csv_path
            records = _list_records(self.csv_path, images, dropped, skipped, check_files)
            default = AFFECTNET_SCALE
        else:
            self.csv_path = None
            self.source = _set_folder(self.root, csv_file)
            records = _set_records(self.source, dropped, skipped)
            self.place = self._whole_picture
            default = REPACKAGED_SCALE
        self.scale = float(default if scale is None else scale)
        _no_partial_landmarks(records)
        super().__init__(records, resolution, skipped, dropped, aus)

    def _whole_picture(self, record: FaceRecord, photo: Photo) -> CropBox:
        """The re-packaged pictures are face crops: the crop is `scale` times the picture."""
        return square_box((0.0, 0.0, *map(float, photo.size)), self.scale)
