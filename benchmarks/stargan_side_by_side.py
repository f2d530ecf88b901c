"""StarGAN side by side: yunjey/stargan's own `main.py` against segan's `stargan_rafd` on this CPU.

    python benchmarks/stargan_side_by_side.py --reference /tmp/stargan-ref \
        [--iters 22] [--warmup 2] [--threads 2] [--out benchmarks/results]

`--reference` is a folder with yunjey/stargan's `main.py`, `solver.py`, `model.py`,
`data_loader.py` and `logger.py` (the PyTorch 0.4+ code with `torch.device` and
`--rafd_image_dir`). It is only run, never imported: the files are copied into a scratch folder
(with the run-time patches in `SHIMS`, none at present) and started there.

One set of pictures feeds both: `segan.synth.writers.write_rafd` writes RaFD-named portraits
(256 px wide, RaFD's 681:1024 aspect) of subjects that segan's RaFD split puts in `train`; the
reference reads them as its README asks, cropped to the 256 px face square and laid out as an
ImageFolder (`train/<expression>/*.jpg`, CenterCrop 256 -> Resize 128 in its loader), and segan
reads the folder `segan prepare rafd ROOT OUT --resolution 128` writes from the same portraits
(the same square, resized once to 128 px).

Both train at the paper's settings (batch 16, 128 px, generator and critic width 64, 6 residual
blocks, 6 critic convolutions, 8 expressions, one critic step per iteration and the generator
every 5th), one after the other, each in its own process with OMP_NUM_THREADS/MKL_NUM_THREADS
set to `--threads` (what sizes torch's intra-op pool, as torch.set_num_threads would) and no
GPU (CUDA_VISIBLE_DEVICES empty; segan also gets run.cpu=true). An iteration's seconds are the
gap between its log stamp and the previous one: the reference prints "Elapsed [...], Iteration
[i/N]" after every iteration (log_step 1), stamped here as each line streams in (the printed
elapsed times have 1 s resolution and serve only as a cross-check); segan writes a `time` into
metrics.jsonl after every step (run.log_every=1). After the warm-up iterations, the timed
iterations are whole 5-iteration cycles (each holds exactly one generator step on both sides,
wherever in the cycle it falls); the comparison is the mean seconds per iteration over them, and
the median of the per-cycle means beside it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torchvision
from PIL import Image
from report import RESULTS, machine, write_results

BATCH = 16
RESOLUTION = 128  # the networks' input
PICTURE = 256  # the written portraits' width, and the reference's crop (its rafd_crop_size)
N_CRITIC = 5
EXPRESSIONS = 8  # RaFD's, the reference's c_dim
SUBJECTS = 16  # training-split subjects written: 16 x 8 expressions x 3 gazes = 384 pictures
WIDTHS = {"g_conv_dim": 64, "d_conv_dim": 64, "g_repeat_num": 6, "d_repeat_num": 6}
# the reference's lambda_gp, lambda_cls and lambda_rec defaults, in segan's names
LOSS_WEIGHTS = {"gp": 10.0, "cls": 1.0, "rec": 10.0}
REFERENCE_FILES = ("main.py", "solver.py", "model.py", "data_loader.py", "logger.py")
# Run-time patches to the reference's copy, each (file, old text, new text, why), for APIs the
# installed torch/torchvision no longer have. Its RaFD training path needs none on torch 2.x
# (`size_average`, the one removed API it names, is on its CelebA path only).
SHIMS: list[tuple[str, str, str, str]] = []
ITERATION_LINE = re.compile(r"Elapsed \[([^\]]*)\], Iteration \[(\d+)/(\d+)\]")
PARAMETERS_LINE = re.compile(r"The number of parameters: (\d+)")


# --- data ---------------------------------------------------------------------------------
def write_data(scratch: Path) -> dict:
    """Portraits for both: the RaFD folder, the reference's ImageFolder and segan's prepared
    folder, all from the same pictures of training-split subjects."""
    from segan.data.rafd import RAFD_CROP
    from segan.data.records import subject_split
    from segan.synth.writers import write_rafd

    subjects = [s for s in range(1, 100) if subject_split(f"rafd{s}", 0) == "train"][:SUBJECTS]
    raw = scratch / "rafd"
    manifest = write_rafd(raw, subjects, resolution=PICTURE, seed=0)
    tree = scratch / "reference-data" / "train"
    top, side = RAFD_CROP  # segan's fixed RaFD square, as fractions of the width
    for shot in manifest:
        with Image.open(raw / shot["path"]) as picture:
            width = picture.size[0]
            px = max(1, round(side * width))
            left, upper = (width - px) // 2, round(top * width)
            square = picture.convert("RGB").crop((left, upper, left + px, upper + px))
        folder = tree / shot["emotion"]
        folder.mkdir(parents=True, exist_ok=True)
        square.save(folder / shot["path"], quality=95)
    prepared = scratch / "segan-data"
    command = [sys.executable, "-m", "segan", "prepare", "rafd", str(raw), str(prepared)]
    command += ["--resolution", str(RESOLUTION)]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(1))
    if done.returncode:
        raise SystemExit(f"segan prepare failed:\n{done.stdout}\n{done.stderr}")
    meta = json.loads((prepared / "meta.json").read_text()) if _has_meta(prepared) else {}
    with Image.open(raw / manifest[0]["path"]) as first:
        size = first.size
    return {
        "subjects": subjects,
        "pictures": len(manifest),
        "picture_size": list(size),
        "expressions": sorted({shot["emotion"] for shot in manifest}),
        "reference_tree": f"train/<expression>/*.jpg, {PICTURE}x{PICTURE} face squares "
        f"(segan's fixed RaFD crop: top {top} x width, full width), JPEG quality 95",
        "segan_prepared": (done.stdout.strip().splitlines() or [""])[-1],
        "segan_prepared_count": meta.get("count"),
        "paths": {"raw": raw, "reference": tree, "segan": prepared},
    }


def _has_meta(folder: Path) -> bool:
    return (folder / "meta.json").is_file()


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        CUDA_VISIBLE_DEVICES="",
        PYTHONUNBUFFERED="1",  # the reference's lines arrive as printed, to be stamped
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


# --- the reference ----------------------------------------------------------------------------
def stage_reference(source: Path, scratch: Path) -> tuple[Path, list[str], str | None]:
    """A copy of the reference's files with the SHIMS applied, the notes on what was patched,
    and the folder's PROVENANCE.txt (where the files came from), if it has one."""
    missing = [name for name in REFERENCE_FILES if not (source / name).is_file()]
    if missing:
        raise SystemExit(f"--reference {source}: missing {', '.join(missing)}")
    work = scratch / "reference-code"
    work.mkdir(parents=True)
    for name in REFERENCE_FILES:
        shutil.copy2(source / name, work / name)
    notes = []
    for name, old, new, why in SHIMS:
        path = work / name
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"shim for {name} does not apply: {old!r} is not in it")
        path.write_text(text.replace(old, new))
        notes.append(f"{name}: {old!r} -> {new!r} ({why})")
    provenance = source / "PROVENANCE.txt"
    origin = " ".join(provenance.read_text().split()) if provenance.is_file() else None
    solver = (work / "solver.py").read_text()
    if "torch.device" not in solver or "--rafd_image_dir" not in (work / "main.py").read_text():
        raise SystemExit(f"--reference {source}: not the PyTorch 0.4+ yunjey/stargan code")
    return work, notes, origin


def run_reference(work: Path, data: Path, scratch: Path, iters: int, threads: int, timeout: float):
    """Train the reference for `iters` iterations; every iteration's log line, stamped here."""
    out = scratch / "reference-run"
    later = str(iters + 1)  # sample, checkpoint and learning-rate steps past the end
    command = [sys.executable, "main.py", "--mode", "train", "--dataset", "RaFD"]
    command += ["--c_dim", str(EXPRESSIONS), "--image_size", str(RESOLUTION)]
    command += ["--rafd_crop_size", str(PICTURE), "--batch_size", str(BATCH)]
    command += ["--num_iters", str(iters), "--n_critic", str(N_CRITIC), "--num_workers", "1"]
    for key, value in WIDTHS.items():
        command += [f"--{key}", str(value)]
    command += ["--use_tensorboard", "False", "--rafd_image_dir", str(data)]
    for key in ("log_dir", "model_save_dir", "sample_dir", "result_dir"):
        command += [f"--{key}", str(out / key.split("_")[0])]
    command += ["--log_step", "1", "--sample_step", later, "--model_save_step", later]
    command += ["--lr_update_step", later]
    log_path = scratch / "reference.log"
    stamps: dict[int, float] = {}
    elapsed: dict[int, float] = {}
    start = time.perf_counter()
    with open(log_path, "w", buffering=1) as log:
        proc = subprocess.Popen(
            command,
            cwd=work,
            env=_env(threads),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter()
            log.write(line)
            match = ITERATION_LINE.search(line)
            if match:
                i = int(match[2])
                stamps[i] = now
                elapsed[i] = _seconds(match[1])
            if now - start > timeout:
                proc.kill()
                break
        code = proc.wait()
    text = log_path.read_text()
    if code or len(stamps) != iters:
        tail = "\n".join(text.splitlines()[-30:])
        raise SystemExit(f"the reference failed (exit {code}, {len(stamps)}/{iters}):\n{tail}")
    params = [int(n) for n in PARAMETERS_LINE.findall(text)]
    return {
        "command": " ".join(command),
        "stamps": stamps,
        "elapsed_printed_s": elapsed,
        "first_iteration_after_s": stamps[1] - start,
        "params": {"G": params[0], "D": params[1]} if len(params) >= 2 else None,
    }


def _seconds(stamp: str) -> float:
    """The reference's printed elapsed time ("h:mm:ss", "d day, h:mm:ss") in seconds."""
    days = 0
    if "day" in stamp:
        head, stamp = stamp.split(",", 1)
        days = int(head.split()[0])
    parts = [int(p) for p in stamp.strip().split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return days * 86400 + h * 3600 + m * 60 + s


# --- segan ------------------------------------------------------------------------------------
def segan_overrides(data: Path, run: Path, iters: int) -> list[str]:
    return [
        f"data.path={data}",
        f"data.resolution={RESOLUTION}",
        f"optim.batch_size={BATCH}",
        f"optim.steps={iters}",
        "run.log_every=1",
        "run.progress=false",
        "run.sample_every=0",
        "run.checkpoint_every=0",
        f"run.output_dir={run}",
        "run.mixed_precision=no",
        "run.cpu=true",
    ]


def check_segan_config(overrides: list[str]) -> dict:
    """stargan_rafd at the reference's settings (widths, critic steps, losses, optimiser), and
    its networks' parameter counts; a mismatch stops the benchmark."""
    from segan.train.config import load_config
    from segan.train.methods import make_task

    config = load_config("stargan_rafd", overrides)
    o = config.optim
    found = {
        "method": config.method,
        "g_conv_dim": config.model.get("conv_dim"),
        "g_repeat_num": config.model.get("repeat_num"),
        "d_conv_dim": config.discriminator.get("conv_dim"),
        "d_repeat_num": config.discriminator.get("repeat_num"),
        "n_critic": o.n_critic,
        "batch_size": o.batch_size,
        "resolution": config.data.resolution,
        "lr": [o.lr_g, o.lr_d],
        "betas": list(o.betas),
        "ema": o.ema,
    }
    wanted = {
        "method": "stargan",
        **WIDTHS,
        "n_critic": N_CRITIC,
        "batch_size": BATCH,
        "resolution": RESOLUTION,
        "lr": [1e-4, 1e-4],
        "betas": [0.5, 0.999],
    }
    task = make_task(config)
    weights = {k: float(v) for k, v in task.weights.items()}
    wrong = {k: (found[k], v) for k, v in wanted.items() if found[k] != v}
    if weights != LOSS_WEIGHTS:
        wrong["loss"] = (weights, LOSS_WEIGHTS)
    if wrong:
        raise SystemExit(f"stargan_rafd differs from the reference's settings: {wrong}")
    nets = task.networks()
    params = {
        "G": sum(p.numel() for p in nets["generator"].parameters()),
        "D": sum(p.numel() for p in nets["discriminator"].parameters()),
    }
    return {"settings": found, "loss_weights": weights, "params": params}


def run_segan(data: Path, scratch: Path, iters: int, threads: int, timeout: float) -> dict:
    """Train stargan_rafd with the real trainer for `iters` steps; every step's log time."""
    run = scratch / "segan-run"
    command = [sys.executable, "-m", "segan", "train", "stargan_rafd"]
    command += segan_overrides(data, run, iters)
    log_path = scratch / "segan.log"
    start = time.time()
    with open(log_path, "w") as log:
        try:
            code = subprocess.run(
                command, env=_env(threads), stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    records = []
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    stamps = {int(r["step"]): float(r["time"]) for r in records}
    if code or len(stamps) != iters:
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        raise SystemExit(f"segan failed (exit {code}, {len(stamps)}/{iters} steps):\n{tail}")
    hardware = run / "hardware.txt"
    return {
        "command": " ".join(command),
        "stamps": stamps,
        "first_iteration_after_s": stamps[1] - start,
        "hardware_txt": hardware.read_text().strip() if hardware.is_file() else None,
    }


# --- numbers ----------------------------------------------------------------------------------
def summarise(stamps: dict[int, float], iters: int, warmup: int) -> dict:
    """Per-iteration seconds (gaps between consecutive stamps) and their means over the whole
    5-iteration cycles after the warm-up."""
    per_iteration = {i: stamps[i] - stamps[i - 1] for i in range(2, iters + 1)}
    cycles = (iters - warmup) // N_CRITIC
    timed = list(range(warmup + 1, warmup + 1 + cycles * N_CRITIC))
    seconds = [per_iteration[i] for i in timed]
    cycle_means = [
        statistics.fmean(seconds[k * N_CRITIC : (k + 1) * N_CRITIC]) for k in range(cycles)
    ]
    mean = (stamps[timed[-1]] - stamps[timed[0] - 1]) / len(timed)
    return {
        "per_iteration_s": {str(i): round(s, 4) for i, s in per_iteration.items()},
        "timed_iterations": [timed[0], timed[-1]],
        "timed_s": [round(s, 4) for s in seconds],
        "cycles": cycles,
        "cycle_means_s": [round(s, 4) for s in cycle_means],
        "mean_s_per_iteration": round(mean, 4),
        "median_cycle_mean_s": round(statistics.median(cycle_means), 4),
        "median_iteration_s": round(statistics.median(seconds), 4),
        "images_per_s": round(BATCH / mean, 3),
    }


def describe_machine(threads: int) -> dict:
    """The machine (the CPU's model name where /proc/cpuinfo gives it) and the threads torch
    takes in a child process started with `threads`."""
    m = machine()
    cpu = m["machine"]
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    probe = "import torch; print(torch.get_num_threads())"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=_env(threads)
    )
    return {
        "cpu": cpu,
        "logical_cpus": m["cpu_cores"],
        "python": platform.python_version(),
        "torch": m["torch"],
        "torchvision": torchvision.__version__,
        "threads": threads,
        "torch_threads_in_children": int(done.stdout.strip() or 0),
    }


def markdown(result: dict) -> str:
    ref, seg, s = result["reference"], result["segan"], result["settings"]
    rows = [
        "| | s / iteration (mean) | median of cycle means | images/s | cycles | params G / D |",
        "|---|---|---|---|---|---|",
    ]
    for name, side in (("yunjey/stargan main.py", ref), ("segan stargan_rafd", seg)):
        t = side["timing"]
        p = side.get("params") or {}
        rows.append(
            f"| {name} | {t['mean_s_per_iteration']:.2f} | {t['median_cycle_mean_s']:.2f} | "
            f"{t['images_per_s']:.2f} | {t['cycles']} | {p.get('G', '?'):,} / {p.get('D', '?'):,} |"
        )
    m = result["machine"]
    r = result["ratio"]
    lines = [
        "# StarGAN side by side: yunjey/stargan vs segan `stargan_rafd` (CPU)",
        "",
        f"{m['cpu']}, {m['logical_cpus']} logical CPUs, {m['threads']} thread(s) each "
        f"(OMP_NUM_THREADS), torch {m['torch']}, batch {s['batch_size']}, "
        f"{s['image_size']} px, widths 64/64, 6/6 blocks, n_critic {s['n_critic']}.",
        "",
        *rows,
        "",
        f"Ratio reference / segan: {r['mean']:.2f}x by the mean, {r['median']:.2f}x by the "
        f"median cycle ({result['faster']} is faster).",
        "",
        f"Method: both trained one after the other on the same {result['data']['pictures']} "
        f"pictures for {s['iters']} iterations; the first {s['warmup']} are warm-up, then "
        f"iterations {s['timed_iterations'][0]}-{s['timed_iterations'][1]} "
        f"({s['cycles']} whole cycles of one critic step per iteration plus one generator "
        "step) are timed from per-iteration log stamps (the reference's streamed "
        "'Iteration [i/N]' lines, segan's metrics.jsonl times).",
        "",
        *[f"- {note}" for note in result["notes"]],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, type=Path, help="yunjey/stargan's files")
    p.add_argument("--iters", type=int, default=22, help="iterations each side trains (22)")
    p.add_argument("--warmup", type=int, default=2, help="first iterations not timed (2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per side (2)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds per side (7200)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = p.parse_args(argv)
    if args.warmup < 1:
        p.error("--warmup must be at least 1 (the first iteration has no earlier stamp)")
    if (args.iters - args.warmup) // N_CRITIC < 1:
        p.error(f"--iters must leave at least one {N_CRITIC}-iteration cycle after --warmup")

    scratch = Path(tempfile.mkdtemp(prefix="stargan-side-by-side-"))
    try:
        load_before = os.getloadavg()
        print(f"scratch {scratch}: writing the pictures", flush=True)
        data = write_data(scratch)
        reference = args.reference.resolve()
        work, shims, origin = stage_reference(reference, scratch)
        overrides = segan_overrides(data["paths"]["segan"], scratch / "segan-run", args.iters)
        segan_check = check_segan_config(overrides)

        print(f"reference: {args.iters} iterations at {args.threads} thread(s)", flush=True)
        ref = run_reference(
            work, data["paths"]["reference"], scratch, args.iters, args.threads, args.timeout
        )
        print(f"segan: {args.iters} iterations at {args.threads} thread(s)", flush=True)
        seg = run_segan(data["paths"]["segan"], scratch, args.iters, args.threads, args.timeout)
        load_after = os.getloadavg()

        ref_timing = summarise(ref["stamps"], args.iters, args.warmup)
        seg_timing = summarise(seg["stamps"], args.iters, args.warmup)
        first, last = ref_timing["timed_iterations"]
        printed = ref["elapsed_printed_s"]
        ref_timing["printed_elapsed_mean_s"] = round(
            (printed[last] - printed[first - 1]) / (last - first + 1), 4
        )
        ratio_mean = ref_timing["mean_s_per_iteration"] / seg_timing["mean_s_per_iteration"]
        ratio_median = ref_timing["median_cycle_mean_s"] / seg_timing["median_cycle_mean_s"]
        notes = [
            "Reference: yunjey/stargan master (main.py, solver.py, model.py, data_loader.py, "
            "logger.py), run unmodified"
            + (
                ": " + "; ".join(shims)
                if shims
                else " (no compatibility shims were needed on this torch)"
            )
            + ", CPU only, --num_workers 1 (its default: one loader process decoding JPEGs "
            "beside training), --use_tensorboard False.",
            "segan: `segan train stargan_rafd` (the real trainer) on the `segan prepare` folder "
            "(memory-mapped 128 px crops, no decoding in the loop); its generator EMA "
            f"({segan_check['settings']['ema']}) is updated after each generator step, which "
            "the reference does not have.",
            "The reference updates the generator at iterations 5, 10, ...; segan at 1, 6, ...: "
            "every timed 5-iteration cycle holds one generator step on both sides.",
            f"The reference's printed elapsed stamps (1 s resolution) give "
            f"{ref_timing['printed_elapsed_mean_s']:.2f} s/iteration over the same iterations.",
            f"Load average before/after: {', '.join(f'{x:.2f}' for x in load_before)} / "
            f"{', '.join(f'{x:.2f}' for x in load_after)} (other work on the machine slows "
            "both sides).",
            *([f"Reference files: {origin}"] if origin else []),
        ]
        result = {
            "benchmark": "stargan_side_by_side",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": describe_machine(args.threads),
            "settings": {
                "iters": args.iters,
                "warmup": args.warmup,
                "threads": args.threads,
                "batch_size": BATCH,
                "image_size": RESOLUTION,
                "crop_size": PICTURE,
                "c_dim": EXPRESSIONS,
                **WIDTHS,
                "n_critic": N_CRITIC,
                "timed_iterations": ref_timing["timed_iterations"],
                "cycles": ref_timing["cycles"],
            },
            "data": {k: v for k, v in data.items() if k != "paths"},
            "reference": {
                "source": "yunjey/stargan master",
                "command": ref["command"],
                "shims": shims,
                "provenance": origin,
                "files_sha256": {
                    name: hashlib.sha256((reference / name).read_bytes()).hexdigest()
                    for name in REFERENCE_FILES
                },
                "params": ref["params"],
                "first_iteration_after_s": round(ref["first_iteration_after_s"], 2),
                "timing": ref_timing,
            },
            "segan": {
                "config": "stargan_rafd",
                "command": seg["command"],
                "checked_settings": segan_check["settings"],
                "loss_weights": segan_check["loss_weights"],
                "params": segan_check["params"],
                "hardware_txt": seg["hardware_txt"],
                "first_iteration_after_s": round(seg["first_iteration_after_s"], 2),
                "timing": seg_timing,
            },
            "ratio": {"mean": round(ratio_mean, 3), "median": round(ratio_median, 3)},
            "faster": "segan" if ratio_mean > 1 else "reference",
            "notes": notes,
        }
        write_results(args.out, "stargan_side_by_side", result, markdown(result))
        print(markdown(result))
        print(f"wrote {args.out / 'stargan_side_by_side.json'} and .md")
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
