"""Real-photo alignment, measured: speed, agreement with FFHQ's own alignment, hard pictures,
and a picture of it.

1. Speed: detection (RetinaFace) + landmarks (the Face Landmarker on a crop around the face)
   + FFHQ's square + the 128 px crop, on a 1024 px photo; medians over repeats, per stage.
2. FFHQ re-aligned: every held-out FFHQ face (ids 4500-4999 of FOLDER) is itself an FFHQ
   crop, so the square segan computes from its landmarks should be the picture's own frame;
   the distance between where the re-alignment puts the eye centres and where FFHQ put them
   (pixels at 128 px), for the Landmarker run on the picture and for the whole finder.
3. Hard pictures: no face, a tiny face, two faces, a face cut by the border, a turned face;
   what the finder says for each (a message or the largest face, never a crash).
4. A picture (alignment.png): real photos with their landmarks and square, the FFHQ-style
   crops, and the paste-back of an edit that changes nothing (its pixel difference: 0).

Usage: python benchmarks/alignment.py [--ffhq FOLDER] [--repeats 20] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from report import RESULTS, write_results

from segan.photos.align import eyes_and_mouth, ffhq_alignment
from segan.photos.faces import NoFaceError
from segan.photos.finder import FaceFinder
from segan.photos.ibug import ibug68
from segan.photos.images import read_photo


def sample_photos() -> dict[str, np.ndarray]:
    """Real photos that ship inside installed packages and may be shown: scikit-image's
    astronaut (NASA, public domain) and matplotlib's Grace Hopper (US Navy, public domain)."""
    import matplotlib.cbook
    from skimage import data

    hopper = read_photo(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return {"astronaut": data.astronaut(), "grace_hopper": hopper.rgb}


def timed(fn, repeats: int) -> tuple[list[float], object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def speed(finder: FaceFinder, photo: np.ndarray, repeats: int) -> dict:
    def whole():
        face = finder.largest(photo)
        return face.alignment().crop(photo, 128)

    total, _ = timed(whole, repeats)
    detect, found = timed(lambda: finder.find(photo, meshes="none"), repeats)
    mesh, _ = timed(lambda: finder._mesh(photo, found[0]), repeats)
    face = finder.largest(photo)
    crop, _ = timed(lambda: face.alignment().crop(photo, 128), repeats)

    def ms(values):
        return {"median_ms": 1000 * statistics.median(values), "max_ms": 1000 * max(values)}

    return {
        "photo": f"{photo.shape[1]}x{photo.shape[0]}",
        "threads": torch.get_num_threads(),
        "total": ms(total),
        "detect": ms(detect),
        "landmarks": ms(mesh),
        "align_and_crop": ms(crop),
    }


def realigned(folder: Path, finder: FaceFinder) -> dict:
    """Eye displacement (128 px units) when FFHQ's held-out crops are aligned again."""
    out = {}
    for how in ("landmarker", "finder"):
        moved = []
        for face_id in range(4500, 5000):
            path = folder / f"{face_id:05d}.jpg"
            if not path.is_file():
                continue
            rgb = read_photo(path).rgb
            if how == "landmarker":
                meshes = finder.landmarker.detect(rgb)
                if not meshes:
                    continue
                points = eyes_and_mouth(ibug68(meshes[0].xy))
            else:
                try:
                    points = finder.largest(rgb).eyes_and_mouth()
                except NoFaceError:
                    continue
            square = ffhq_alignment(points)
            side = rgb.shape[0]
            shift = np.linalg.norm(square.to_crop(points[:2], side) - points[:2], axis=1).max()
            moved.append(shift * 128 / side)
        moved = np.array(moved)
        out[how] = {
            "faces": len(moved),
            "median_px": float(np.median(moved)),
            "p90_px": float(np.percentile(moved, 90)),
            "share_within_2px": float((moved <= 2).mean() * 100),
        }
    return out


def hard_pictures(finder: FaceFinder, photos: dict[str, np.ndarray]) -> dict:
    astronaut = photos["astronaut"]
    face = cv2.resize(astronaut[20:240, 130:350], (220, 220))
    canvas = np.full((1024, 1024, 3), 120, np.uint8)
    tiny = canvas.copy()
    tiny[500:522, 500:522] = cv2.resize(face, (22, 22), interpolation=cv2.INTER_AREA)
    two = np.full((600, 1100, 3), 120, np.uint8)
    two[50:270, 50:270] = face
    two[100:540, 600:1040] = cv2.resize(face, (440, 440))
    cut = np.ascontiguousarray(astronaut[60:512, 180:512])
    turned = cv2.resize(np.ascontiguousarray(astronaut[:, 100:400]), (180, 512))  # squeezed
    coffee = __import__("skimage.data", fromlist=["coffee"]).coffee()
    cases = {
        "no face (scikit-image's coffee)": coffee,
        "a 22 px face in 1024 px": tiny,
        "two faces (220 and 440 px)": two,
        "a face cut by the border": cut,
        "a face squeezed to 35% of its width": turned,
    }
    out = {}
    for name, rgb in cases.items():
        try:
            face = finder.largest(rgb)
            out[name] = (
                f"face {tuple(round(v) for v in face.box)}, "
                + ("mesh" if face.mesh is not None else "detector points")
                + f", square side {face.alignment().side:.0f} px"
            )
        except NoFaceError as err:
            out[name] = f"NoFaceError: {err}"
    return out


def picture(finder: FaceFinder, photos: dict[str, np.ndarray], path: Path) -> dict:
    """Photos with landmarks and square, their 256 px crops, and the unchanged paste-back."""
    rows, unchanged = [], {}
    for name, rgb in photos.items():
        face = finder.largest(rgb)
        square = face.alignment()
        drawn = rgb.copy()
        thick = max(1, round(max(rgb.shape[:2]) / 300))
        cv2.polylines(drawn, [np.rint(square.quad).astype(np.int32)], True, (250, 200, 30), thick)
        for x, y in face.landmarks():
            cv2.circle(drawn, (round(x), round(y)), thick + 1, (40, 220, 60), -1)
        crop = square.crop(rgb, 256)
        back = square.paste(rgb, crop, crop.copy())
        unchanged[name] = int((back != rgb).any(-1).sum())
        h = 256
        scaled = cv2.resize(drawn, (round(rgb.shape[1] * h / rgb.shape[0]), h))
        restored = cv2.resize(back, (scaled.shape[1], h))
        rows.append(np.concatenate([scaled, crop, restored], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    return unchanged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ffhq", type=Path, help="FFHQ's aligned faces (ids 4500-4999 are read)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    finder = FaceFinder.from_files()
    photos = sample_photos()
    photo = cv2.resize(photos["astronaut"], (1024, 1024), interpolation=cv2.INTER_CUBIC)
    result = {"speed_1024": speed(finder, photo, args.repeats)}
    if args.ffhq:
        result["ffhq_realigned"] = realigned(args.ffhq, finder)
    result["hard_pictures"] = hard_pictures(finder, photos)
    args.out.mkdir(parents=True, exist_ok=True)
    result["unchanged_paste_back_pixels_differing"] = picture(
        finder, photos, args.out / "alignment.png"
    )
    s = result["speed_1024"]
    lines = [
        f"# Real-photo alignment ({s['photo']} photo, {s['threads']} threads)",
        "",
        "| stage | median ms | max ms |",
        "|---|---|---|",
        *[
            f"| {k} | {s[k]['median_ms']:.1f} | {s[k]['max_ms']:.1f} |"
            for k in ("detect", "landmarks", "align_and_crop", "total")
        ],
    ]
    if "ffhq_realigned" in result:
        lines += [
            "",
            "FFHQ's held-out crops aligned again (eye centres, pixels at 128 px):",
            "",
            "| landmarks from | faces | median | 90th percentile | within 2 px |",
            "|---|---|---|---|---|",
            *[
                f"| {k} | {v['faces']} | {v['median_px']:.2f} | {v['p90_px']:.2f} | "
                f"{v['share_within_2px']:.1f}% |"
                for k, v in result["ffhq_realigned"].items()
            ],
        ]
    lines += ["", "| picture | what the finder says |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["hard_pictures"].items()]
    lines += [
        "",
        "Pixels an unchanged edit changes when pasted back: "
        + ", ".join(f"{k} {v}" for k, v in result["unchanged_paste_back_pixels_differing"].items()),
    ]
    write_results(args.out, "alignment", result, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
