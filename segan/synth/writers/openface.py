"""OpenFace's AU CSVs: FaceLandmarkImg (one file a picture), FeatureExtraction (one a video),
alone, for a writer's manifest, or over frames of videos."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segan.labels import (
    AU_IDS,
    AU_MAX_INTENSITY,
    EXPRESSIONS,
    NUM_AUS,
    OPENFACE_AU_COLUMNS,
    OPENFACE_AU_PRESENCE_COLUMNS,
)
from segan.synth.writers.affectnet import NON_EXPRESSION_CODE
from segan.synth.writers.common import (
    check_choices,
    check_count,
    check_writer_resolution,
    draw_intensity,
    face_record,
    pick_identities,
    render_faces,
    save_jpeg,
    seeded_rng,
)

# --- OpenFace ---------------------------------------------------------------------------------
OPENFACE_KINDS: tuple[str, ...] = ("FaceLandmarkImg", "FeatureExtraction")
_OPENFACE_FPS = 30.0
OPENFACE_FRAME_PATTERN = "{video}/frame_{frame:05d}.jpg"  # ffmpeg's video/frame_%05d.jpg


# --- OpenFace ---------------------------------------------------------------------------------
def _openface_sample(item: Any, k: int) -> dict[str, Any]:
    """A sample as {"stem", "aus", "failed"} from a (stem, aus) pair or a mapping."""
    if isinstance(item, Mapping):
        stem, aus, failed = item.get("stem"), item.get("aus"), bool(item.get("failed", False))
    elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        (stem, aus), failed = item, False
    else:
        raise ValueError(f"samples[{k}] must be a (stem, aus) pair or a mapping with stem and aus")
    if not isinstance(stem, str) or not stem or "/" in stem or "\\" in stem:
        raise ValueError(f"samples[{k}] stem must be a non-empty file stem, got {stem!r}")
    values = (
        [float(v) for v in aus] if isinstance(aus, Sequence | torch.Tensor | np.ndarray) else []
    )
    if len(values) != NUM_AUS or not all(0.0 <= v <= AU_MAX_INTENSITY for v in values):
        raise ValueError(f"samples[{k}] aus must be {NUM_AUS} intensities in [0, 5], got {aus!r}")
    return {"stem": stem, "aus": values, "failed": failed}


def _openface_values(rng: np.random.Generator, sample: dict[str, Any]) -> dict[str, Any]:
    """What OpenFace reports: intensities to 2 decimals, presence = intensity >= 1 (AU28 0)."""
    if sample["failed"]:
        return {"confidence": 0.0, "success": 0, "au_r": [0.0] * NUM_AUS, "au_c": [0] * 18}
    au_r = [round(v, 2) for v in sample["aus"]]
    by_id = dict(zip(AU_IDS, au_r, strict=True))
    au_c = [int(by_id.get(int(col[2:4]), 0.0) >= 1.0) for col in OPENFACE_AU_PRESENCE_COLUMNS]
    confidence = round(float(rng.uniform(0.96, 0.99)), 2)
    return {"confidence": confidence, "success": 1, "au_r": au_r, "au_c": au_c}


def _openface_fields(record: Mapping[str, Any]) -> list[str]:
    """The AU columns of one row as OpenFace formats them."""
    return [f"{v:.2f}" for v in record["au_r"]] + [f"{float(v):.2f}" for v in record["au_c"]]


def _openface_header(leading: Sequence[str]) -> str:
    """OpenFace's header: column names joined by ", " (so every name after the first
    starts with a space when split on commas)."""
    return ", ".join([*leading, *OPENFACE_AU_COLUMNS, *OPENFACE_AU_PRESENCE_COLUMNS])


def write_openface(
    root: str | Path,
    samples: Sequence[Any],
    kind: str = "FaceLandmarkImg",
    failed_fraction: float = 0.0,
    seed: int = 0,
    name: str = "sequence",
    sidecar: bool = True,
) -> list[dict[str, Any]]:
    """Write OpenFace 2.x AU CSVs (`-aus` output) for samples given as (stem, 17 AUs).

    kind "FaceLandmarkImg": one `{stem}.csv` per image, columns `face, confidence, AU.._r,
    AU.._c`, one row (face 0). kind "FeatureExtraction": one `{name}.csv` with columns `frame,
    face_id, timestamp, confidence, success, AU.._r, AU.._c`, frame k+1 = samples[k] at 30 fps,
    and, with `sidecar`, a `{name}_frames.csv` (`frame,stem`) naming each frame's image
    (OpenFace itself writes no such list; `sidecar=False` writes what OpenFace writes).
    round(failed_fraction * N) samples, plus those given with failed=True, are failed tracks:
    confidence 0, success 0 and all AUs 0 (FaceLandmarkImg has no success column).
    """
    if kind not in OPENFACE_KINDS:
        raise ValueError(f"kind must be one of {OPENFACE_KINDS}, got {kind!r}")
    if isinstance(samples, str | bytes) or not isinstance(samples, Sequence) or not samples:
        raise ValueError("samples must be a non-empty sequence of (stem, aus) samples")
    if not isinstance(failed_fraction, int | float) or not 0.0 <= failed_fraction <= 1.0:
        raise ValueError(f"failed_fraction must lie in [0, 1], got {failed_fraction!r}")
    if not name or "/" in name:
        raise ValueError(f"name must be a file stem, got {name!r}")
    items = [_openface_sample(item, k) for k, item in enumerate(samples)]
    stems = [s["stem"] for s in items]
    if kind == "FaceLandmarkImg" and len(set(stems)) != len(stems):
        raise ValueError("samples have duplicate stems; FaceLandmarkImg writes one CSV per stem")
    rng = seeded_rng(seed, "openface")
    for k in rng.choice(len(items), size=round(failed_fraction * len(items)), replace=False):
        items[int(k)]["failed"] = True
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    records = [{**s, **_openface_values(rng, s)} for s in items]
    if kind == "FaceLandmarkImg":
        return [_write_landmark_img(root, r) for r in records]
    return _write_feature_extraction(root, records, name, sidecar)


def _write_landmark_img(root: Path, record: dict[str, Any]) -> dict[str, Any]:
    """One FaceLandmarkImg CSV for one image."""
    path = f"{record['stem']}.csv"
    row = ", ".join(["0", f"{record['confidence']:.2f}", *_openface_fields(record)])
    header = _openface_header(["face", "confidence"])
    (root / path).write_text(f"{header}\n{row}\n")
    return {**record, "path": path, "face": 0}


def _write_feature_extraction(
    root: Path, records: list[dict[str, Any]], name: str, sidecar: bool = True
) -> list[dict[str, Any]]:
    """One FeatureExtraction CSV for the whole sequence, and the frame -> stem sidecar."""
    lines = [_openface_header(["frame", "face_id", "timestamp", "confidence", "success"])]
    frames = ["frame,stem"]
    out = []
    for k, record in enumerate(records):
        timestamp = k / _OPENFACE_FPS
        head = [str(k + 1), "0", f"{timestamp:.3f}", f"{record['confidence']:.2f}"]
        lines.append(", ".join([*head, str(record["success"]), *_openface_fields(record)]))
        frames.append(f"{k + 1},{record['stem']}")
        out.append(
            {**record, "path": f"{name}.csv", "frame": k + 1, "timestamp": round(timestamp, 3)}
        )
    (root / f"{name}.csv").write_text("\n".join(lines) + "\n")
    if sidecar:
        (root / f"{name}_frames.csv").write_text("\n".join(frames) + "\n")
    return out


def write_openface_for_manifest(
    root: str | Path,
    manifest: Sequence[Mapping[str, Any]],
    kind: str = "FaceLandmarkImg",
    failed_fraction: float = 0.0,
    seed: int = 0,
    name: str = "sequence",
) -> list[dict[str, Any]]:
    """OpenFace CSVs for the images another writer wrote, keyed by image file stem.

    Rows whose picture shows no face (AffectNet code 10) are written as failed tracks.
    """
    samples = [
        {
            "stem": Path(entry["path"]).stem,
            "aus": entry["aus"],
            "failed": entry.get("code") == NON_EXPRESSION_CODE["no-face"],
        }
        for entry in manifest
    ]
    return write_openface(root, samples, kind, failed_fraction, seed, name)


def _check_frame_pattern(pattern: str) -> None:
    """A pattern that gives each frame of a video its own relative picture path."""
    try:
        first, second = (pattern.format(video="v", frame=k, index=k - 1) for k in (1, 2))
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise ValueError(f"frame_pattern {pattern!r} cannot be filled ({err})") from None
    if first == second or Path(first).is_absolute():
        raise ValueError(
            f"frame_pattern {pattern!r} must name frames apart ({{frame}} or {{index}}) and be "
            f"relative to frames_root"
        )


def write_openface_videos(
    csv_root: str | Path,
    frames_root: str | Path,
    videos: int = 2,
    frames: int = 3,
    resolution: int = 64,
    frame_pattern: str = OPENFACE_FRAME_PATTERN,
    expression: str = "happy",
    seed: int = 0,
    failed_fraction: float = 0.0,
) -> list[dict[str, Any]]:
    """Write videos as OpenFace FeatureExtraction leaves them: frames extracted by a numbering
    pattern, one `{video}.csv` per video (rows by frame, `frame` from 1) and no frame list.

    Video v is `video{v:02d}`: one identity whose `expression` builds up over `frames` frames
    (drawn intensities 1..5, rising, so no two videos share their AUs). Frame k (from 1) is
    written at `frames_root / frame_pattern.format(video=name, frame=k, index=k - 1)` (the
    default, `{video}/frame_{frame:05d}.jpg`, is what `ffmpeg -i video.mp4
    video/frame_%05d.jpg` writes, so every video has the same file names), and its CSV at
    `csv_root / f"{name}.csv"`. Manifest entries hold `video`, `frame`, `path`
    (relative to frames_root), `csv` (relative to csv_root) and the OpenFace values.
    """
    videos = check_count("videos", videos, high=100)
    frames = check_count("frames", frames)
    resolution = check_writer_resolution("resolution", resolution)
    check_choices("expression", [expression], EXPRESSIONS)
    _check_frame_pattern(frame_pattern)
    rng = seeded_rng(seed, "openface_videos")
    identities = pick_identities(rng, videos)
    manifest = []
    for v, identity in enumerate(identities):
        name = f"video{v:02d}"
        steps = sorted(draw_intensity(rng, 1.0, AU_MAX_INTENSITY) for _ in range(frames))
        shots = [face_record(identity, expression, i) for i in steps]
        paths = [
            frame_pattern.format(video=name, frame=k, index=k - 1) for k in range(1, frames + 1)
        ]
        for path, face in zip(paths, render_faces(shots, resolution), strict=True):
            save_jpeg(Path(frames_root) / path, face.image)
        samples = [(Path(path).stem, shot["aus"]) for path, shot in zip(paths, shots, strict=True)]
        rows = write_openface(
            csv_root, samples, "FeatureExtraction", failed_fraction, seed + v, name, sidecar=False
        )
        for row, path, shot in zip(rows, paths, shots, strict=True):
            row.update(shot, video=name, csv=row["path"], path=path)
            manifest.append(row)
    return manifest
