"""The posed sets' layouts: RaFD's and KDEF's portrait photographs, named by subject,
expression, camera angle (and RaFD's gaze)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segan.labels import (
    KDEF_EXPRESSIONS,
    RAFD_EXPRESSIONS,
)
from segan.synth.writers.common import (
    check_choices,
    check_count,
    check_writer_resolution,
    draw_intensity,
    face_record,
    landmark_points,
    pick_identities,
    portrait,
    render_faces,
    save_jpeg,
    seeded_rng,
)

# --- RaFD and KDEF ----------------------------------------------------------------------------
RAFD_ANGLES: tuple[int, ...] = (0, 45, 90, 135, 180)
RAFD_GAZES: tuple[str, ...] = ("frontal", "left", "right")
RAFD_EMOTIONS: tuple[str, ...] = tuple(sorted(RAFD_EXPRESSIONS))
RAFD_ASPECT = (681, 1024)  # width, height of the real photographs
RAFD_BACKGROUND = (236, 236, 232)
KDEF_ANGLES: tuple[str, ...] = ("FL", "HL", "S", "HR", "FR")
KDEF_SESSIONS: tuple[str, ...] = ("A", "B")
KDEF_CODES: tuple[str, ...] = tuple(KDEF_EXPRESSIONS)
KDEF_ASPECT = (562, 762)
KDEF_BACKGROUND = (128, 132, 138)
KDEF_IDS_PER_GENDER = 35


# --- RaFD -------------------------------------------------------------------------------------
def _check_subject_numbers(subjects: int | Sequence[int]) -> tuple[int, ...]:
    """RaFD subject numbers: a count (numbered 1..count) or distinct numbers in 1..99."""
    if isinstance(subjects, int) and not isinstance(subjects, bool):
        return tuple(range(1, check_count("subjects", subjects, high=99) + 1))
    numbers = check_choices("subjects", subjects, range(1, 100))
    if not all(isinstance(s, int) for s in numbers):
        raise ValueError(f"subjects must be ints in 1..99, got {list(numbers)}")
    return numbers


def _rafd_subject(rng: np.random.Generator, number: int, identity: int) -> dict[str, Any]:
    """A model's fixed traits; RaFD's Moroccan-Dutch models are all male."""
    gender = "female" if rng.random() < 0.5 else "male"
    moroccan = gender == "male" and rng.random() < 0.4
    ethnicity = "Moroccan" if moroccan else "Caucasian"
    return {"subject": number, "identity": identity, "gender": gender, "ethnicity": ethnicity}


def write_rafd(
    root: str | Path,
    subjects: int | Sequence[int],
    resolution: int = 256,
    seed: int = 0,
    angles: Sequence[int] = (90,),
    gazes: Sequence[str] = RAFD_GAZES,
    emotions: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Write RaFD-named portraits in one folder, for loaders of the real RaFD.

    Names are `Rafd{angle:03d}_{subject:02d}_{ethnicity}_{gender}_{emotion}_{gaze}.jpg`.
    `subjects` is a count (numbered 01..) or subject numbers; each is one identity showing every
    emotion (RaFD names, intensity 3..5). Pictures are `resolution` wide in RaFD's 681:1024
    portrait aspect, the face high on a flat light backdrop. SynthFaces cannot turn the head or
    the eyes: every angle and gaze reuses the frontal render; only the name differs.
    """
    numbers = _check_subject_numbers(subjects)
    resolution = check_writer_resolution("resolution", resolution)
    angles = check_choices("angles", angles, RAFD_ANGLES)
    gazes = check_choices("gazes", gazes, RAFD_GAZES)
    emotions = check_choices(
        "emotions", RAFD_EMOTIONS if emotions is None else emotions, RAFD_EMOTIONS
    )
    rng = seeded_rng(seed, "rafd")
    people = [
        _rafd_subject(rng, s, i)
        for s, i in zip(numbers, pick_identities(rng, len(numbers)), strict=True)
    ]
    shots = []
    for person in people:
        for emotion in emotions:
            shot = face_record(
                person["identity"], RAFD_EXPRESSIONS[emotion], draw_intensity(rng, 3.0, 5.0)
            )
            shots.append({**person, **shot, "emotion": emotion})
    manifest = []
    for shot, face in zip(shots, render_faces(shots, resolution), strict=True):
        picture, top = portrait(face, RAFD_ASPECT, 0.12, RAFD_BACKGROUND)
        landmarks = landmark_points(face.landmarks, dy=top)
        for angle in angles:
            for gaze in gazes:
                name = (
                    f"Rafd{angle:03d}_{shot['subject']:02d}_{shot['ethnicity']}_"
                    f"{shot['gender']}_{shot['emotion']}_{gaze}.jpg"
                )
                save_jpeg(Path(root) / name, picture)
                manifest.append(
                    {**shot, "path": name, "angle": angle, "gaze": gaze, "landmarks": landmarks}
                )
    return manifest


# --- KDEF -------------------------------------------------------------------------------------
_KDEF_SUBJECT = re.compile(r"([FM])(\d{2})")


def _check_kdef_subjects(subjects: int | Sequence[str]) -> tuple[str, ...]:
    """KDEF subjects as codes like "F01"/"M35": a count (F01, M01, F02, ...) or explicit codes."""
    if isinstance(subjects, int) and not isinstance(subjects, bool):
        count = check_count("subjects", subjects, high=2 * KDEF_IDS_PER_GENDER)
        return tuple(f"{'FM'[k % 2]}{k // 2 + 1:02d}" for k in range(count))
    allowed = [f"{g}{i:02d}" for g in "FM" for i in range(1, KDEF_IDS_PER_GENDER + 1)]
    return check_choices("subjects", subjects, allowed)


def write_kdef(
    root: str | Path,
    subjects: int | Sequence[str],
    resolution: int = 256,
    seed: int = 0,
    angles: Sequence[str] = ("S",),
    sessions: Sequence[str] = ("A",),
    emotions: Sequence[str] | None = None,
    placeholders: int = 0,
) -> list[dict[str, Any]]:
    """Write KDEF-named portraits, for loaders of the real KDEF.

    Paths are `KDEF/{session}{gender}{id:02d}/{session}{gender}{id:02d}{expr}{angle}.JPG`.
    `subjects` is a count (F01, M01, F02, ... up to 70) or codes such as "F07". Each subject is
    one identity; each session (A, B) is a separate shot of every emotion (KDEF codes, intensity
    3..5). Pictures are `resolution` wide in KDEF's 562:762 aspect on a flat grey backdrop.
    SynthFaces cannot turn the head: every camera angle reuses the straight render.
    `placeholders` pictures, drawn at random, are then overwritten with all-black pictures of
    the same size, as the release has where a shot is missing (`blank` in the manifest).
    """
    codes = _check_kdef_subjects(subjects)
    resolution = check_writer_resolution("resolution", resolution)
    angles = check_choices("angles", angles, KDEF_ANGLES)
    sessions = check_choices("sessions", sessions, KDEF_SESSIONS)
    emotions = check_choices("emotions", KDEF_CODES if emotions is None else emotions, KDEF_CODES)
    total = len(codes) * len(sessions) * len(emotions) * len(angles)
    if isinstance(placeholders, bool) or not isinstance(placeholders, int):
        raise ValueError(f"placeholders must be an int in 0..{total}, got {placeholders!r}")
    if not 0 <= placeholders <= total:
        raise ValueError(f"placeholders must be an int in 0..{total}, got {placeholders!r}")
    rng = seeded_rng(seed, "kdef")
    shots = []
    for code, identity in zip(codes, pick_identities(rng, len(codes)), strict=True):
        for session in sessions:
            for emotion in emotions:
                shot = face_record(
                    identity, KDEF_EXPRESSIONS[emotion], draw_intensity(rng, 3.0, 5.0)
                )
                shot.update(subject=code, gender=code[0], session=session, emotion=emotion)
                shots.append(shot)
    manifest = []
    for shot, face in zip(shots, render_faces(shots, resolution), strict=True):
        picture, top = portrait(face, KDEF_ASPECT, 0.1, KDEF_BACKGROUND)
        folder = f"{shot['session']}{shot['subject']}"
        for angle in angles:
            path = f"KDEF/{folder}/{folder}{shot['emotion']}{angle}.JPG"
            save_jpeg(Path(root) / path, picture)
            manifest.append(
                {
                    **shot,
                    "path": path,
                    "angle": angle,
                    "landmarks": landmark_points(face.landmarks, dy=top),
                }
            )
    _kdef_placeholders(Path(root), manifest, rng, placeholders)
    return manifest


def _kdef_placeholders(
    root: Path, manifest: list[dict[str, Any]], rng: np.random.Generator, count: int
) -> None:
    """Overwrite `count` drawn pictures with all-black ones of the same size; mark `blank`."""
    chosen = {int(k) for k in rng.choice(len(manifest), size=count, replace=False)}
    for k, entry in enumerate(manifest):
        entry["blank"] = k in chosen
        if entry["blank"]:
            with Image.open(root / entry["path"]) as picture:
                width, height = picture.size
            save_jpeg(root / entry["path"], np.zeros((height, width, 3), np.uint8))
