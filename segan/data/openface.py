"""OpenFace 2.x action-unit CSVs, read by column name, joined to pictures by file name.

OpenFace writes `, `-separated headers, so every column after the first starts with a space
(" AU12_r"); names are stripped before use and AU columns are found by name, never position
(GANimation's `[2:19]` slice breaks across OpenFace versions). Two outputs are understood:
`FaceLandmarkImg` (one `{image stem}.csv` per picture, one row per face: the most confident face
is kept) and `FeatureExtraction` (one CSV with a `frame` column; frame k is the k-th picture,
named by a `{csv stem}_frames.csv` sidecar with `frame,stem` or by `frames=`). Rows with
`success` 0 or confidence below `min_confidence` are failed tracks: skipped and counted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from segan.data.images import IMAGE_SUFFIXES, SkipLog
from segan.data.records import DataError
from segan.labels import AU_MAX_INTENSITY, OPENFACE_AU_COLUMNS

__all__ = ["OpenFaceAUs"]


def _picture_stem(name: str) -> str:
    """A picture's stem from its name or stem: only an image suffix is removed, so a stem with
    dots ("photo.2020") stays whole."""
    path = Path(name)
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Column names (stripped) and rows of one OpenFace CSV."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty file, no OpenFace header") from None
        rows = [dict(zip(header, (v.strip() for v in line), strict=False)) for line in reader]
    missing = [c for c in OPENFACE_AU_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: no AU intensity columns {missing} (OpenFace needs -aus); found {header}"
        )
    return header, [r for r in rows if any(r.values())]


class OpenFaceAUs(Mapping[str, np.ndarray]):
    """Picture stem -> its 17 AU intensities (0..5, segan's AU order) from OpenFace output.

    `source` is a FeatureExtraction CSV, one FaceLandmarkImg CSV, or a folder of them.
    `failed` counts failed tracks skipped; `skipped` lists unreadable CSV files.
    """

    def __init__(
        self,
        source: str | Path,
        frames: Sequence[str] | None = None,
        min_confidence: float = 0.0,
    ):
        self.source = Path(source)
        self.min_confidence = float(min_confidence)
        self.failed = 0
        self.skipped = SkipLog()
        self._aus: dict[str, np.ndarray] = {}
        if self.source.is_dir():
            files = sorted(self.source.glob("*.csv"))
            files = [f for f in files if not f.stem.endswith("_frames")]
            if not files:
                raise DataError(f"OpenFace folder {self.source} holds no .csv files")
            for path in files:
                self._read_file(path, frames)
        elif self.source.is_file():
            self._read_file(self.source, frames, strict=True)
        else:
            raise DataError(f"OpenFace output {self.source} does not exist")

    # --- reading ------------------------------------------------------------------------------
    def _read_file(self, path: Path, frames: Sequence[str] | None, strict: bool = False) -> None:
        try:
            header, rows = _read_rows(path)
        except (DataError, OSError, UnicodeDecodeError, csv.Error) as err:
            if strict:
                raise DataError(str(err)) from None
            self.skipped.add(path, str(err))
            return
        if "frame" in header:
            for stem, row in self._frame_rows(path, rows, frames):
                self._add(stem, row, path)
        else:
            good = [r for r in rows if self._tracked(r)]
            self.failed += len(rows) - len(good)
            if good:
                best = max(good, key=lambda r: float(r.get("confidence") or 0.0))
                self._add(path.stem, best, path)

    def _frame_rows(
        self, path: Path, rows: list[dict[str, str]], frames: Sequence[str] | None
    ) -> Iterator[tuple[str, dict[str, str]]]:
        names = self._frame_names(path, frames)
        for row in rows:
            if not self._tracked(row):
                self.failed += 1
                continue
            frame = int(float(row["frame"]))
            if frame not in names:
                raise DataError(f"{path}: frame {frame} has no picture name in the frame list")
            yield names[frame], row

    @staticmethod
    def _frame_names(path: Path, frames: Sequence[str] | None) -> dict[int, str]:
        """Frame number (from 1) -> picture stem."""
        if frames is not None:
            return {k + 1: _picture_stem(name) for k, name in enumerate(frames)}
        sidecar = path.with_name(f"{path.stem}_frames.csv")
        if not sidecar.is_file():
            raise DataError(
                f"{path} is FeatureExtraction output: name its frames with frames=[picture "
                f"names in the order OpenFace read them] or a {sidecar.name} (frame,stem)"
            )
        with sidecar.open(newline="") as handle:
            return {int(r["frame"]): _picture_stem(r["stem"]) for r in csv.DictReader(handle)}

    def _tracked(self, row: Mapping[str, str]) -> bool:
        """False for a failed track: success 0, confidence 0 (FaceLandmarkImg has no success
        column) or confidence below the bar."""
        if row.get("success", "1") in ("0", "0.0"):
            return False
        confidence = float(row.get("confidence") or 1.0)
        return confidence > 0.0 and confidence >= self.min_confidence

    def _add(self, stem: str, row: Mapping[str, str], path: Path) -> None:
        try:
            values = np.array([float(row[c]) for c in OPENFACE_AU_COLUMNS], np.float32)
        except (KeyError, ValueError) as err:
            raise DataError(f"{path}: bad AU value for {stem} ({err})") from None
        self._aus[stem] = np.clip(values, 0.0, AU_MAX_INTENSITY)

    # --- Mapping ------------------------------------------------------------------------------
    def _key(self, stem: str) -> str:
        """`stem` itself if known, else the stem of a picture name ("a.jpg" -> "a")."""
        return stem if stem in self._aus else _picture_stem(stem)

    def __getitem__(self, stem: str) -> np.ndarray:
        return self._aus[self._key(stem)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._aus)

    def __len__(self) -> int:
        return len(self._aus)

    def __contains__(self, stem: object) -> bool:
        return isinstance(stem, str) and self._key(stem) in self._aus
