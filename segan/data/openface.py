"""OpenFace 2.x action-unit CSVs, read by column name, joined to pictures by file name.

OpenFace writes `, `-separated headers, so every column after the first starts with a space
(" AU12_r"); names are stripped before use and AU columns are found by name, never position
(GANimation's `[2:19]` slice breaks across OpenFace versions). Two outputs are understood:

- `FaceLandmarkImg`: one `{image stem}.csv` per picture, one row per face; the most confident
  face is kept, keyed by the picture's stem.
- `FeatureExtraction`: one CSV per video, one row per frame, column `frame` counting from 1.
  OpenFace does not say which picture file a frame is, so one of these names the frames:
  `frame_pattern`, the pattern the frames were extracted under (relative to the picture
  folder), with the fields `{video}` (the CSV's stem), `{frame}` (OpenFace's frame number, from
  1) and `{index}` (frame - 1, for frames numbered from 0); e.g. frames written by
  `ffmpeg -i clip.mp4 clip/frame_%05d.jpg` are `frame_pattern="{video}/frame_{frame:05d}.jpg"`
  (`segan prepare ... --aus CSV --option frame_pattern=...`); or `frames=`, the picture names in
  frame order; or a `{csv stem}_frames.csv` sidecar with columns `frame,stem`.

A picture is looked up by its stem, or by its path: a key with folders (`clip/frame_00001`, from
a pattern) matches the tail of the picture's path, so frames of many videos with the same file
names stay apart. Rows with `success` 0 or confidence below `min_confidence` are failed tracks:
skipped and counted. A cell that is empty or not a number stops the reader with the file, line
and column.
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from segan.data.records import DataError, csv_float, csv_int
from segan.labels import AU_MAX_INTENSITY, OPENFACE_AU_COLUMNS
from segan.photos.images import IMAGE_SUFFIXES, SkipLog

__all__ = ["OPENFACE_OPTIONS", "OpenFaceAUs", "check_frame_pattern"]

# The reader's options that `segan prepare --option` passes through (see catalog.open_dataset).
OPENFACE_OPTIONS = ("frame_pattern", "frames", "min_confidence")
PATTERN_FIELDS = ("video", "frame", "index")
PATTERN_EXAMPLE = "{video}/frame_{frame:05d}.jpg"

Row = tuple[int, dict[str, str]]  # (line number in the file, values by column name)


def _picture_key(name: str) -> str:
    """A picture's key from its name or path: forward slashes, an image suffix removed (a stem
    with dots, "photo.2020", stays whole)."""
    name = name.replace("\\", "/")
    suffix = Path(name).suffix
    return name[: -len(suffix)] if suffix.lower() in IMAGE_SUFFIXES else name


def _pattern_problem(pattern: str) -> str:
    """What keeps a frame pattern from naming frames, or "" when nothing does."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as err:
        return f"cannot be filled ({err})"
    unknown = sorted(fields - set(PATTERN_FIELDS))
    if unknown:
        return f"has unknown fields {unknown}"
    if not fields & {"frame", "index"}:
        return "has no {frame} or {index} field, so every frame would get the same name"
    try:
        pattern.format(video="v", frame=1, index=0)
    except (KeyError, IndexError, ValueError) as err:
        return f"cannot be filled ({err})"
    return ""


def check_frame_pattern(pattern: str) -> None:
    """A DataError for a frame pattern that cannot name frames, saying what it lacks."""
    problem = _pattern_problem(pattern)
    if problem:
        raise DataError(
            f"frame_pattern {pattern!r} {problem}; use {{video}} (the CSV's stem), {{frame}} "
            f"(OpenFace's frame number, from 1) or {{index}} (frame - 1), e.g. "
            f"{PATTERN_EXAMPLE!r}"
        )


def _read_rows(path: Path) -> tuple[list[str], list[Row]]:
    """Column names (stripped) and non-empty rows, with their line numbers, of one OpenFace CSV."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty file, no OpenFace header") from None
        rows = [
            (reader.line_num, dict(zip(header, (v.strip() for v in line), strict=False)))
            for line in reader
        ]
    missing = [c for c in OPENFACE_AU_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: no AU intensity columns {missing} (OpenFace needs -aus); found {header}"
        )
    return header, [(n, r) for n, r in rows if any(r.values())]


def _no_frame_names(path: Path, sidecar: Path) -> DataError:
    """What to give when a FeatureExtraction CSV's frames have no picture names."""
    return DataError(
        f"{path} is OpenFace FeatureExtraction output (one row per frame, `frame` from 1) and "
        f"nothing in {path.parent} says which picture each frame is: give frame_pattern, the "
        f"names the frames were extracted under relative to the picture folder, with {{video}} "
        f"(the CSV's stem, here {path.stem!r}) and {{frame}} (OpenFace's frame number) or "
        f"{{index}} (frame - 1), e.g. frame_pattern='{PATTERN_EXAMPLE}' (segan prepare ... "
        f"--aus {path} --option frame_pattern=...); or frames=[picture names in frame order]; "
        f"or write {sidecar.name} (columns frame,stem) in {path.parent}"
    )


class OpenFaceAUs(Mapping[str, np.ndarray]):
    """Picture key -> its 17 AU intensities (0..5, segan's AU order) from OpenFace output.

    `source` is a FeatureExtraction CSV, one FaceLandmarkImg CSV, or a folder of them.
    `frame_pattern` or `frames` names FeatureExtraction frames (see the module docstring).
    `failed` counts failed tracks skipped; `skipped` lists unreadable CSV files.
    """

    def __init__(
        self,
        source: str | Path,
        frames: Sequence[str] | None = None,
        min_confidence: float = 0.0,
        frame_pattern: str | None = None,
    ):
        self.source = Path(source)
        self.min_confidence = float(min_confidence)
        if frame_pattern is not None:
            check_frame_pattern(frame_pattern)
        self.frame_pattern = frame_pattern
        self.frames = frames
        self.failed = 0
        self.skipped = SkipLog()
        self._aus: dict[str, np.ndarray] = {}
        self._origin: dict[str, Path] = {}
        if self.source.is_dir():
            files = sorted(self.source.glob("*.csv"))
            files = [f for f in files if not f.stem.endswith("_frames")]
            if not files:
                raise DataError(f"OpenFace folder {self.source} holds no .csv files")
            for path in files:
                self._read_file(path)
        elif self.source.is_file():
            self._read_file(self.source, strict=True)
        else:
            raise DataError(f"OpenFace output {self.source} does not exist")

    # --- reading ------------------------------------------------------------------------------
    def _read_file(self, path: Path, strict: bool = False) -> None:
        try:
            header, rows = _read_rows(path)
        except (DataError, OSError, UnicodeDecodeError, csv.Error) as err:
            if strict:
                raise DataError(str(err)) from None
            self.skipped.add(path, str(err))
            return
        if "frame" in header:
            for key, (line, row) in self._frame_rows(path, rows):
                self._add(key, row, path, line)
        else:
            good = [(n, r) for n, r in rows if self._tracked(path, n, r)]
            self.failed += len(rows) - len(good)
            if good:
                line, best = max(good, key=lambda nr: self._confidence(path, *nr))
                self._add(path.stem, best, path, line)

    def _frame_rows(self, path: Path, rows: list[Row]) -> Iterator[tuple[str, Row]]:
        name = self._frame_namer(path)
        for line, row in rows:
            if not self._tracked(path, line, row):
                self.failed += 1
                continue
            yield name(csv_int(path, line, "frame", row["frame"])), (line, row)

    def _frame_namer(self, path: Path):
        """Frame number (from 1) -> picture key, for one FeatureExtraction CSV."""
        if self.frame_pattern is not None:
            pattern = self.frame_pattern
            return lambda k: _picture_key(pattern.format(video=path.stem, frame=k, index=k - 1))
        names = self._listed_frames(path)

        def listed(frame: int) -> str:
            if frame not in names:
                raise DataError(f"{path}: frame {frame} has no picture name in the frame list")
            return names[frame]

        return listed

    def _listed_frames(self, path: Path) -> dict[int, str]:
        """Frame number (from 1) -> picture key, from `frames` or the sidecar."""
        if self.frames is not None:
            return {k + 1: _picture_key(name) for k, name in enumerate(self.frames)}
        sidecar = path.with_name(f"{path.stem}_frames.csv")
        if not sidecar.is_file():
            raise _no_frame_names(path, sidecar)
        with sidecar.open(newline="") as handle:
            reader = csv.DictReader(handle)
            return {
                csv_int(sidecar, reader.line_num, "frame", r["frame"]): _picture_key(r["stem"])
                for r in reader
            }

    def _confidence(self, path: Path, line: int, row: Mapping[str, str]) -> float:
        """The row's confidence (1.0 when the column is absent)."""
        if "confidence" not in row:
            return 1.0
        return csv_float(path, line, "confidence", row["confidence"])

    def _tracked(self, path: Path, line: int, row: Mapping[str, str]) -> bool:
        """False for a failed track: success 0, confidence 0 (FaceLandmarkImg has no success
        column) or confidence below the bar."""
        if "success" in row and csv_float(path, line, "success", row["success"]) == 0:
            return False
        confidence = self._confidence(path, line, row)
        return confidence > 0.0 and confidence >= self.min_confidence

    def _add(self, key: str, row: Mapping[str, str], path: Path, line: int) -> None:
        origin = self._origin.setdefault(key, path)
        if origin != path:
            raise DataError(
                f"{origin} and {path} both give AUs for picture {key!r}: name frames of "
                f"different videos apart (put {{video}} in frame_pattern)"
            )
        values = [csv_float(path, line, c, row.get(c)) for c in OPENFACE_AU_COLUMNS]
        self._aus[key] = np.clip(np.array(values, np.float32), 0.0, AU_MAX_INTENSITY)

    # --- Mapping ------------------------------------------------------------------------------
    def _key(self, name: str) -> str | None:
        """The key `name` stands for: itself, or the longest tail of its path (image suffix
        removed) that is a key ("a.jpg" -> "a", "/data/clip/frame_00001.jpg" ->
        "clip/frame_00001" or "frame_00001"), else None."""
        if name in self._aus:
            return name
        parts = _picture_key(name).split("/")
        for k in range(len(parts)):
            tail = "/".join(parts[k:])
            if tail in self._aus:
                return tail
        return None

    def __getitem__(self, name: str) -> np.ndarray:
        key = self._key(name)
        if key is None:
            raise KeyError(name)
        return self._aus[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._aus)

    def __len__(self) -> int:
        return len(self._aus)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) is not None
