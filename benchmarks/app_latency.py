"""End-to-end latency of one edit through the app's API: upload a 1024x1024 photo, detect,
crop, edit, paste back, encode and download the results (gradio_client against a local
launch of app.py's demo with the bundled models).

Usage: python benchmarks/app_latency.py [--repeats 10] [--models bundled:stargan ...]
Prints a markdown table and writes app_latency.json + app_latency.md. Each figure is the median
over `repeats` calls after one warm-up call; the in-process time of the pipeline (the same edit
without HTTP and image encoding) is given beside it, with its detect / edit share.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np
from PIL import Image
from report import RESULTS, machine, write_results

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app
from segan.studio import Studio, example_photos

SIDE = 1024


def photos(folder: Path) -> dict[str, Path]:
    """The benchmark's 1024x1024 photos: the astronaut (a real photo) and a SynthFaces face,
    both enlarged from 512 px (bicubic) and saved as PNG."""
    out = {}
    for path in example_photos(folder / "examples"):
        if path.stem not in ("astronaut", "synthfaces-04"):
            continue
        big = Image.open(path).convert("RGB").resize((SIDE, SIDE), Image.BICUBIC)
        out[path.stem] = folder / f"{path.stem}-{SIDE}.png"
        big.save(out[path.stem])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--models", nargs="*", help="model specs (default: every bundled editor)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()

    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="segan-latency-"))
    studio = Studio(args.models, out_dir=work / "out")
    pictures = photos(work)
    demo = app.build_demo(studio)
    _, url, _ = demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **app.LAUNCH,
    )
    rows = []
    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=work / "dl")
        for spec in studio.editors:
            pipe = studio.pipeline(spec)
            for name, path in pictures.items():
                aus = studio.preset("happy", 1.0)
                call = (spec, handle_file(str(path)), app.FACE_MODES[0], "", "happy", 1.0, *aus)
                client.predict(*call, api_name="/edit")  # warm-up
                api, inner, detect, edit = [], [], [], []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    result = client.predict(*call, api_name="/edit")
                    api.append(time.perf_counter() - t)
                    r = pipe.edit(path, "happy", 1.0, np.asarray(aus) if pipe.uses_aus else None)
                    inner.append(r.seconds["total"])
                    detect.append(r.seconds["detect"])
                    edit.append(r.seconds["edit"])
                size = Image.open(result[1]).size
                rows.append(
                    {
                        "model": spec,
                        "photo": f"{name} {size[0]}x{size[1]}",
                        "api_ms": 1000 * statistics.median(api),
                        "api_ms_max": 1000 * max(api),
                        "pipeline_ms": 1000 * statistics.median(inner),
                        "detect_ms": 1000 * statistics.median(detect),
                        "edit_ms": 1000 * statistics.median(edit),
                        "resolution": pipe.resolution,
                    }
                )
                print(rows[-1], flush=True)
    finally:
        demo.close()

    header = (
        "| model | photo | model px | API median ms | API max ms | pipeline ms | detect ms "
        "| edit ms |\n|---|---|---|---|---|---|---|---|\n"
    )
    table = header + "".join(
        f"| {r['model']} | {r['photo']} | {r['resolution']} | {r['api_ms']:.0f} | "
        f"{r['api_ms_max']:.0f} | {r['pipeline_ms']:.0f} | {r['detect_ms']:.0f} | "
        f"{r['edit_ms']:.0f} |\n"
        for r in rows
    )
    m = machine()
    note = (
        f"One /edit call through gradio_client (upload, detect, crop, edit, paste back, PNG "
        f"encoding of before/after/download/explanations, download), median of "
        f"{args.repeats} after a warm-up; {m['machine']}, {m['cpu_cores']} CPU cores.\n\n"
    )
    print(note + table)
    info = {**m, "repeats": args.repeats, "rows": rows}
    write_results(args.out, "app_latency", info, "# App latency\n\n" + note + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
