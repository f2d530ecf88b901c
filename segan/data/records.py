"""What every real-data loader shares: one record per picture, the crop, and skip-and-count.

A loader parses its publisher's file names or CSVs into `FaceRecord`s up front (cheap: no image
is decoded), then `FaceDataset.__getitem__` decodes one picture, cuts the face crop and returns
the same keys as SynthFaces where the dataset has them: `image` (3, R, R) in [-1, 1],
`expression` (AffectNet index), `aus` (17 intensities 0..5), `identity`, `landmarks` (68, 2) in
crop pixels, `mask` (R, R) segan classes. A picture that cannot be read is recorded in
`dataset.skipped` and the next readable one is returned instead, so an epoch never stops.
(DataLoader workers each keep their own copy of the log; `segan prepare` collects every skip.)
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segan.labels import NUM_AUS
from segan.photos.faces import (
    DEFAULT_SCALE,
    CropBox,
    NoFaceError,
    crop_image,
    find_face,
    square_box,
)
from segan.photos.ibug import ibug68
from segan.photos.images import ImageReadError, Photo, SkipLog, read_photo, to_tensor
from segan.photos.landmarks import MeshLandmarker

__all__ = [
    "DataError",
    "FaceDataset",
    "FaceRecord",
    "MaskError",
    "check_folder",
    "check_resolution",
    "csv_float",
    "csv_int",
    "detected_crop",
    "portrait_crop",
    "subject_split",
]

log = logging.getLogger(__name__)
LANDMARK_CROP = 256  # the crop the Face Landmarker reads when it estimates landmarks

SPLITS = ("train", "val", "test", "all")


class DataError(ValueError):
    """A dataset that cannot be read as asked (missing folder, bad CSV, unknown split)."""


class MaskError(ValueError):
    """A mask that does not fit its image; names both files."""


@dataclass
class FaceRecord:
    """One picture and what its publisher says about it (photo pixel coordinates)."""

    path: Path
    expression: int | None = None
    aus: np.ndarray | None = None
    identity: int | None = None
    landmarks: np.ndarray | None = None
    face: tuple[float, float, float, float] | None = None  # (x, y, w, h) face box
    extra: dict[str, float] = field(default_factory=dict)  # more float items, e.g. valence
    meta: dict[str, Any] = field(default_factory=dict)  # publisher fields, not returned as items

    @property
    def stem(self) -> str:
        return self.path.stem


def check_folder(path: str | Path, what: str) -> Path:
    """`path` as a Path if it is a folder, else a DataError naming it and what it should hold."""
    path = Path(path)
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{what} folder {path} {state}")
    return path


def csv_float(path: str | Path, line: int, column: str, value: str | None) -> float:
    """`value` of `column` as a float, or a DataError naming the file, line and column and
    saying whether the cell is empty or holds something other than a number."""
    text = (value or "").strip()
    if not text:
        raise DataError(f"{path}, line {line}, column {column}: empty where a number is expected")
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}, line {line}, column {column}: {text!r} is not a number") from None


def csv_int(path: str | Path, line: int, column: str, value: str | None) -> int:
    """`value` of `column` as an int ("3" or "3.0"), or a DataError naming file, line, column."""
    number = csv_float(path, line, column, value)
    if not number.is_integer():
        raise DataError(f"{path}, line {line}, column {column}: {value!r} is not a whole number")
    return int(number)


def check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise DataError(f"resolution must be an int of at least 8, got {resolution!r}")
    return resolution


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    if split not in allowed:
        raise DataError(f"split must be one of {list(allowed)}, got {split!r}")
    return split


def subject_split(subject: str, seed: int = 0, fractions: tuple[float, float] = (0.1, 0.1)) -> str:
    """'train', 'val' or 'test' for a subject, from a hash of (seed, subject): every picture of
    one person lands in the same split, the same way on every machine."""
    digest = hashlib.sha256(f"{seed}/{subject}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    val, test = fractions
    return "test" if u < test else "val" if u < test + val else "train"


def _aus_of(aus: Mapping[str, np.ndarray], record: FaceRecord) -> np.ndarray | None:
    """A record's AUs: looked up by its full path first (OpenFaceAUs matches frames named by a
    pattern such as `{video}/frame_00001` on the path's tail), then by its file stem."""
    values = aus.get(record.path.as_posix())
    return aus.get(record.stem) if values is None else values


class FaceDataset(Dataset):
    """Face crops from a list of records; subclasses say how to place the crop (`crop_box`)
    and may add a mask (`read_mask`)."""

    name = "faces"
    has_masks = False  # subclasses with masks set this and implement read_mask

    def __init__(
        self,
        records: Sequence[FaceRecord],
        resolution: int,
        skipped: SkipLog | None = None,
        dropped: Counter | None = None,
        aus: Mapping[str, np.ndarray] | None = None,
    ):
        self.resolution = check_resolution(resolution)
        self.skipped = skipped if skipped is not None else SkipLog()
        self.dropped: Counter = dropped if dropped is not None else Counter()
        records = list(records)
        if aus is not None:
            records = self._join_aus(records, aus)
        if not records:
            raise DataError(f"{self.name}: no pictures left to load ({self.report()})")
        self.records = records
        self.keys = self._keys()
        self._unreadable: set[int] = set()  # items already skipped: logged once, not re-read

    # --- set-up -------------------------------------------------------------------------------
    def _join_aus(
        self, records: list[FaceRecord], aus: Mapping[str, np.ndarray]
    ) -> list[FaceRecord]:
        kept = []
        for record in records:
            values = _aus_of(aus, record)
            if values is None:
                self.dropped["no AUs"] += 1
                continue
            record.aus = np.asarray(values, np.float32).reshape(NUM_AUS)
            kept.append(record)
        return kept

    def _keys(self) -> tuple[str, ...]:
        """The keys every item carries: those all records have (checked to be uniform)."""
        first = self.records[0]
        keys = ["image"]
        for key in ("expression", "aus", "identity", "landmarks"):
            have = [getattr(r, key) is not None for r in self.records]
            if any(have) and not all(have):
                raise DataError(f"{self.name}: some records have {key} and some do not")
            if have[0] or (key == "landmarks" and self.estimates_landmarks):
                keys.append(key)
        keys += list(first.extra)
        if self.has_masks:
            keys.append("mask")
        return tuple(keys)

    def report(self) -> str:
        """What was left out: dropped rows by reason and skipped files."""
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items()))
        return f"dropped: {dropped or 'none'}; {self.skipped.summary()}"

    # --- landmarks the data lacks ------------------------------------------------------------
    estimates_landmarks = False
    _landmarker = None  # the Face Landmarker, opened on first use in each process

    def estimate_landmarks(self) -> None:
        """Give every item `landmarks` where the data has none (RaFD, KDEF, a folder of photos):
        68 iBUG points fitted from MediaPipe's Face Landmarker mesh (segan.photos) on a
        LANDMARK_CROP px crop, in crop pixels; an item where it finds no face is skipped and
        named. What boxhgan's landmark boxes need on data published without landmarks."""
        self.estimates_landmarks = True
        self.keys = self._keys()

    def _estimated_landmarks(self, record: FaceRecord, photo: Photo, box: CropBox) -> np.ndarray:

        if self._landmarker is None:
            self._landmarker = MeshLandmarker.from_file(max_faces=1)
        faces = self._landmarker.detect(crop_image(photo.rgb, box, LANDMARK_CROP))
        if not faces:
            raise NoFaceError(f"{record.path}: the face landmarker finds no face in the crop")
        return ibug68(faces[0].xy) * (self.resolution / LANDMARK_CROP)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_landmarker", None)  # a MediaPipe task does not cross processes
        return state

    # --- per item -----------------------------------------------------------------------------
    scale = DEFAULT_SCALE  # crop side / face box side
    place: Callable[[FaceRecord, Photo], CropBox] | None = None  # overrides the face-box crop

    def crop_box(self, record: FaceRecord, photo: Photo) -> CropBox:
        """Where the face crop lies in the photo: `place`, or a square around the face box."""
        if self.place is not None:
            return self.place(record, photo)
        if record.face is None:
            raise NotImplementedError(f"{type(self).__name__} must place its crop")
        return square_box(record.face, self.scale)

    def read_mask(self, record: FaceRecord, photo: Photo, box: CropBox) -> np.ndarray:
        raise NotImplementedError

    def load(self, index: int) -> dict[str, torch.Tensor]:
        """Decode and crop item `index`; raises ImageReadError or MaskError for a bad file."""
        record = self.records[index]
        photo = read_photo(record.path)
        box = self.crop_box(record, photo)
        out: dict[str, torch.Tensor] = {
            "image": to_tensor(crop_image(photo.rgb, box, self.resolution))
        }
        if record.expression is not None:
            out["expression"] = torch.tensor(record.expression, dtype=torch.int64)
        if record.aus is not None:
            out["aus"] = torch.as_tensor(record.aus, dtype=torch.float32)
        if record.identity is not None:
            out["identity"] = torch.tensor(record.identity, dtype=torch.int64)
        if record.landmarks is not None:
            points = box.to_crop(record.landmarks, self.resolution)
            out["landmarks"] = torch.as_tensor(points, dtype=torch.float32)
        elif self.estimates_landmarks:
            points = self._estimated_landmarks(record, photo, box)
            out["landmarks"] = torch.as_tensor(points, dtype=torch.float32)
        for key, value in record.extra.items():
            out[key] = torch.tensor(value, dtype=torch.float32)
        if self.has_masks:
            out["mask"] = torch.from_numpy(self.read_mask(record, photo, box).astype(np.int64))
        return out

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Item `index`; an unreadable picture is skipped (logged, counted) for the next one."""
        n = len(self.records)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} of size {n}")
        index %= n
        for attempt in range(n):
            k = (index + attempt) % n
            if k in self._unreadable:
                continue
            try:
                return self.load(k)
            except (ImageReadError, MaskError, NoFaceError) as err:
                reason = err.reason if isinstance(err, ImageReadError) else str(err)
                self._unreadable.add(k)
                self.skipped.add(self.records[k].path, reason)
                log.warning("%s: skipped %s", self.name, err)
        raise DataError(f"{self.name}: no picture could be read ({self.report()})")

    def item_path(self, index: int) -> Path:
        """The picture file behind item `index`."""
        return self.records[index].path


def detected_crop(scale: float = DEFAULT_SCALE) -> Callable[[FaceRecord, Photo], CropBox]:
    """A crop placer that finds the face in each photo (or uses the record's face box) and
    takes `scale` times it; a photo without a face raises NoFaceError (skipped, counted)."""

    def detect(record: FaceRecord, photo: Photo) -> CropBox:
        return square_box(find_face(photo.rgb, record.face), scale)

    return detect


def portrait_crop(
    crop: str | tuple[float, float], default: tuple[float, float], scale: float = DEFAULT_SCALE
) -> Callable[[FaceRecord, Photo], CropBox]:
    """How studio portraits (RaFD, KDEF) are cropped: "fixed" (the dataset's `default`), a
    (top, side) pair as fractions of the picture's width (the square is centred across), or
    "detect" (face detection on every picture, `scale` times the detected box)."""
    if crop == "detect":
        return detected_crop(scale)
    if isinstance(crop, str) and crop != "fixed":
        raise DataError(f"crop must be 'fixed', 'detect' or (top, side), got {crop!r}")
    top, side = default if crop == "fixed" else crop
    if not side > 0:
        raise DataError(f"crop side must be a positive fraction of the width, got {side}")

    def fixed(record: FaceRecord, photo: Photo) -> CropBox:
        width = photo.size[0]
        px = max(1, round(side * width))
        return CropBox((width - px) // 2, round(top * width), px)

    return fixed
