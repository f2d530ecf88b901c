"""RetinaFace MobileNet-0.25 (segan.photos.retinaface): detection time and what it finds.

Usage: python benchmarks/detector.py [--ffhq ../shared/data/ffhq/128] [--repeats 25]
       [--out benchmarks/results]
Prints markdown tables and writes detector.json + detector.md:

- time per `detect` call (photo in, detections out: shrinking, network, decoding, NMS) on
  scikit-image's astronaut at 512 px, enlarged to 1024 and 2048 px, and pasted small (its face
  6% of the side) into a 2048 px grey canvas; median and spread over `repeats` calls after a
  warm-up, with torch using all of the machine's cores;
- the working-size trade-off: for each candidate `max_side`, the time on the 1024 px photo and
  the face score of the astronaut's face pasted into a 2048 px canvas at 3..8% of its side;
- with --ffhq, how many of the folder's photos (FFHQ's aligned faces) have a face found, and the
  time per photo. Only counts and times are written, nothing derived from the pixels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from report import RESULTS, machine, write_results
from skimage import data

from segan.photos.retinaface import WORKING_SIDE, RetinaFaceDetector

CANDIDATE_SIDES = (384, 448, 512, 576, 640)
FACE_FRACTIONS = (0.03, 0.04, 0.05, 0.06, 0.07, 0.08)


def _pasted(face_fraction: float, side: int = 2048) -> np.ndarray:
    """A grey `side` canvas with the astronaut's face (a square crop twice the face's height)
    pasted so that the face is `face_fraction` of the side high."""
    crop = data.astronaut()[0:240, 103:343]
    n = round(2 * face_fraction * side)
    canvas = np.full((side, side, 3), 128, np.uint8)
    canvas[side // 3 : side // 3 + n, side // 2 : side // 2 + n] = cv2.resize(
        crop, (n, n), interpolation=cv2.INTER_AREA
    )
    return canvas


def _photos() -> dict[str, np.ndarray]:
    astronaut = data.astronaut()
    return {
        "astronaut 512": astronaut,
        "astronaut 1024": cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC),
        "astronaut 2048": cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC),
        "face 6% in 2048": _pasted(0.06),
    }


def _timed(
    detector: RetinaFaceDetector, rgb: np.ndarray, repeats: int, threads: int, **kw
) -> dict[str, float]:
    """Wall-clock milliseconds per `detect` call on `threads` torch threads (median, quartiles,
    extremes) and the process's CPU milliseconds per call (median), after one warm-up call."""
    torch.set_num_threads(threads)
    detector.detect(rgb, **kw)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        detector.detect(rgb, **kw)
        wall.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    q1, _, q3 = statistics.quantiles(wall, n=4)
    return {
        "ms_median": statistics.median(wall),
        "ms_q1": q1,
        "ms_q3": q3,
        "ms_min": min(wall),
        "ms_max": max(wall),
        "cpu_ms_median": statistics.median(cpu),
    }


def _ffhq(detector: RetinaFaceDetector, folder: Path) -> dict[str, object]:
    files = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
    if not files:
        raise SystemExit(f"no *.jpg or *.png photos in {folder}")
    counts, times = [], []
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        found = detector.detect(rgb)
        times.append(1000 * (time.perf_counter() - t0))
        counts.append(len(found))
    counts_arr = np.array(counts)
    q1, _, q3 = statistics.quantiles(times, n=4)
    return {
        "folder": str(folder),
        "photos": len(files),
        "with_a_face": int((counts_arr >= 1).sum()),
        "with_exactly_one_face": int((counts_arr == 1).sum()),
        "with_no_face": int((counts_arr == 0).sum()),
        "faces": int(counts_arr.sum()),
        "ms_median": statistics.median(times),
        "ms_q1": q1,
        "ms_q3": q3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ffhq", type=Path, help="a folder of FFHQ faces (*.jpg) to count")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    threads = args.threads
    loads = [os.getloadavg()[0]]
    detector = RetinaFaceDetector.from_file()
    photos = _photos()
    rows = []
    for name, rgb in photos.items():
        found = detector.detect(rgb)
        rows.append(
            {
                "photo": name,
                "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
                "faces": len(found),
                "score": found[0].score if found else None,
                **_timed(detector, rgb, args.repeats, threads),
                "one_thread_cpu_ms_median": _timed(detector, rgb, args.repeats, 1)["cpu_ms_median"],
            }
        )
    loads.append(os.getloadavg()[0])

    canvases = {f: _pasted(f) for f in FACE_FRACTIONS}
    sweep = []
    for side in CANDIDATE_SIDES:
        scores = {}
        for fraction, canvas in canvases.items():
            found = detector.detect(canvas, max_side=side, min_score=0.01, min_size=0)
            scores[f"{fraction:.2f}"] = max((d.score for d in found), default=0.0)
        photo = photos["astronaut 1024"]
        timing = _timed(detector, photo, args.repeats, threads, max_side=side)
        one = _timed(detector, photo, args.repeats, 1, max_side=side)
        sweep.append(
            {
                "max_side": side,
                "scores_by_face_fraction": scores,
                **timing,
                "one_thread_cpu_ms_median": one["cpu_ms_median"],
            }
        )
    loads.append(os.getloadavg()[0])

    torch.set_num_threads(threads)
    info: dict[str, object] = {
        **machine(),
        "load_average_1min": loads,
        "working_side": WORKING_SIDE,
        "repeats": args.repeats,
        "results": rows,
        "working_side_sweep": sweep,
    }
    lines = [
        f"`RetinaFaceDetector.detect` with its defaults (max_side {WORKING_SIDE}, min_score 0.8) "
        f"on {threads} torch threads, torch {torch.__version__}; {args.repeats} calls after a "
        "warm-up. `1-thread CPU` is the CPU time of a call on one thread, which other work on "
        "the machine changes little. 1-minute load average (other work included) at the start, "
        "after the photos and after the sweep: " + ", ".join(f"{v:.1f}" for v in loads) + ".",
        "",
        "| photo | size | faces | score | ms (median) | q1-q3 | min-max | 1-thread CPU ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        score = f"{r['score']:.2f}" if r["score"] is not None else "-"
        lines.append(
            f"| {r['photo']} | {r['size']} | {r['faces']} | {score} | {r['ms_median']:.1f} | "
            f"{r['ms_q1']:.1f}-{r['ms_q3']:.1f} | {r['ms_min']:.1f}-{r['ms_max']:.1f} | "
            f"{r['one_thread_cpu_ms_median']:.1f} |"
        )
    lines += [
        "",
        "Working size: time on the 1024 px photo, and the score of the astronaut's face pasted "
        "into a 2048 px canvas at a fraction of its side (the best score of any box; 0.00: none "
        "scored 0.01).",
        "",
        "| max_side | ms (median) | q1-q3 | 1-thread CPU ms | "
        + " | ".join(f"face {100 * f:.0f}%" for f in FACE_FRACTIONS)
        + " |",
        "|---|---|---|---|" + "---|" * len(FACE_FRACTIONS),
    ]
    for s in sweep:
        scores = " | ".join(f"{v:.2f}" for v in s["scores_by_face_fraction"].values())
        lines.append(
            f"| {s['max_side']} | {s['ms_median']:.1f} | {s['ms_q1']:.1f}-{s['ms_q3']:.1f} | "
            f"{s['one_thread_cpu_ms_median']:.1f} | {scores} |"
        )
    if args.ffhq:
        ffhq = _ffhq(detector, args.ffhq)
        info["ffhq"] = ffhq
        lines += [
            "",
            f"FFHQ ({ffhq['photos']} aligned faces of `{args.ffhq.name}/`, defaults, {threads} "
            f"threads): a face found in {ffhq['with_a_face']}, exactly one in "
            f"{ffhq['with_exactly_one_face']}, none in {ffhq['with_no_face']}; "
            f"{ffhq['faces']} faces in all; {ffhq['ms_median']:.1f} ms per photo "
            f"(median; q1-q3 {ffhq['ms_q1']:.1f}-{ffhq['ms_q3']:.1f}; 1-minute load average "
            f"{os.getloadavg()[0]:.1f} at the end).",
        ]
    table = "\n".join(lines)
    print(table)
    write_results(args.out, "detector", info, table)


if __name__ == "__main__":
    main()
