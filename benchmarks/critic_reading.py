"""What an AU-conditioned GAN run's critic reads, against what the AU labels' own source reads.

Usage: python benchmarks/critic_reading.py RUN[@STEP] [RUN[@STEP] ...] --real PREPARED
       [--faces 300] [--edits 100] [--out benchmarks/results]

GANimation and the fine-grained model learn their AU targets only through the critic's AU
regression head. On a few thousand photos that head can learn the training faces by heart, and
a generator can then satisfy it with patterns that are not the expression. For each run (its
latest checkpoint, or STEP) this reports:
- the critic's AU error (mean squared, AUs / 5) on `--faces` of the run's own training faces and
  on as many held-out faces of PREPARED (a folder `segan prepare ffhq ... --split test` wrote),
  and its mean score on each (a critic that memorises scores its training faces higher);
- for `--edits` held-out faces, each edited (EMA generator) towards another held-out face's AUs,
  as training draws targets: the critic's AU error against the target, and the Face
  Landmarker's (the source of the FFHQ AU labels), read on the edit's change pasted onto the
  full-size face as the app pastes it; `moved` is the share of the source-to-target AU
  distance the Landmarker sees the edit cover (1: at the target, 0: unchanged).
The Landmarker is the labels' source, not a judge of quality (benchmarks/quality.py --real is).
Writes critic_reading.json and critic_reading.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from report import RESULTS, write_results

from segan.data.cache import PreparedFaces
from segan.evaluate_real import pictures_tensor
from segan.labels import AU_IDS, AU_MAX_INTENSITY
from segan.photos.aus import aus_from_blendshapes
from segan.photos.landmarks import MeshLandmarker
from segan.train.bundle import snapshot
from segan.train.checkpoint import latest_checkpoint
from segan.train.config import load_config

BATCH = 50


def faces(folder: str | Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n pictures of a prepared folder in [-1, 1] and their AUs / 5."""
    prepared = PreparedFaces(folder)
    if len(prepared) < n:
        raise SystemExit(f"{folder} holds {len(prepared)} faces; --faces/--edits asks for {n}")
    x = pictures_tensor(np.array(prepared.arrays["image"][:n]))
    return x, torch.from_numpy(np.array(prepared.arrays["aus"][:n])) / AU_MAX_INTENSITY


def at(x: torch.Tensor, side: int) -> torch.Tensor:
    return x if x.shape[-1] == side else F.interpolate(x, size=side, mode="area")


@torch.no_grad()
def critic_reads(critic, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scores, aus = [], []
    for i in range(0, len(x), BATCH):
        score, reading = critic(x[i : i + BATCH])
        scores.append(score.mean((1, 2, 3)))
        aus.append(reading)
    return torch.cat(scores), torch.cat(aus)


def landmarker_reads(landmarker: MeshLandmarker, x: torch.Tensor) -> np.ndarray:
    """AUs / 5 the Landmarker's blendshapes give each picture (NaN where it finds no face)."""
    rows = []
    for picture in x:
        rgb = ((picture.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        found = landmarker.detect(np.ascontiguousarray(rgb))
        if found:
            rows.append(aus_from_blendshapes(found[0].blendshapes[None])[0] / AU_MAX_INTENSITY)
        else:
            rows.append(np.full(len(AU_IDS), np.nan))
    return np.array(rows, dtype=np.float64)


def mse(a, b) -> float:
    return float(((np.asarray(a) - np.asarray(b)) ** 2).mean())


def read_run(spec: str, real: Path, n: int, n_edits: int, landmarker) -> dict[str, Any]:
    name, _, step = spec.partition("@")
    run = Path(name)
    checkpoint = run / "checkpoints" / f"step_{int(step):07d}" if step else latest_checkpoint(run)
    if checkpoint is None or not checkpoint.is_dir():
        raise SystemExit(f"{spec}: no such checkpoint in {run / 'checkpoints'}")
    config = load_config(str(run / "config.yaml"))
    critic, at_step = snapshot(run, checkpoint, role="discriminator")
    generator, _ = snapshot(run, checkpoint)
    side = config.data.resolution
    train_x, train_aus = faces(config.data.path, n)
    test_full, test_aus = faces(real, max(n, n_edits))
    test_x = at(test_full, side)
    row: dict[str, Any] = {"run": run.name, "step": at_step}
    for part, (x, aus) in (("train", (train_x, train_aus)), ("held_out", (test_x, test_aus))):
        score, reading = critic_reads(critic, x[:n])
        row[f"critic_au_error_{part}"] = mse(reading, aus[:n])
        row[f"critic_score_{part}"] = float(score.mean())
    sources, targets = test_x[:n_edits], torch.roll(test_aus[:n_edits], 7, 0)
    with torch.no_grad():
        edits = torch.cat(
            [
                generator(sources[i : i + BATCH], targets[i : i + BATCH])
                for i in range(0, n_edits, BATCH)
            ]
        )
    _, reading = critic_reads(critic, edits)
    row["critic_au_error_edits"] = mse(reading, targets)
    change = F.interpolate(edits - sources, size=test_full.shape[-1], mode="bilinear")
    pasted = (test_full[:n_edits] + change).clamp(-1, 1)
    read_source = landmarker_reads(landmarker, test_full[:n_edits])
    read_edit = landmarker_reads(landmarker, pasted)
    found = ~np.isnan(read_source).any(1) & ~np.isnan(read_edit).any(1)
    t = targets.numpy()[found]
    row["landmarker_au_error_edits"] = mse(read_edit[found], t)
    row["source_to_target"] = mse(read_source[found], t)
    row["moved"] = 1 - row["landmarker_au_error_edits"] / row["source_to_target"]
    row["edits_read"] = int(found.sum())
    return row


COLUMNS = (
    ("run", "run"),
    ("step", "step"),
    ("critic_au_error_train", "critic AU error, training faces"),
    ("critic_au_error_held_out", "critic AU error, held-out faces"),
    ("critic_score_train", "critic score, training faces"),
    ("critic_score_held_out", "critic score, held-out faces"),
    ("critic_au_error_edits", "critic AU error, edits"),
    ("landmarker_au_error_edits", "Landmarker AU error, edits"),
    ("source_to_target", "source to target"),
    ("moved", "moved"),
)


def table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [f"{row[k]:.4f}" if isinstance(row[k], float) else str(row[k]) for k, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders, each optionally @STEP")
    parser.add_argument("--real", required=True, help="held-out prepared folder with AUs")
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.manual_seed(0)
    start = time.perf_counter()
    landmarker = MeshLandmarker.from_file(max_faces=1)
    rows = [read_run(s, Path(args.real), args.faces, args.edits, landmarker) for s in args.runs]
    text = (
        f"# What the critic reads\n\n{args.faces} training and held-out faces, {args.edits} "
        f"edits of held-out faces ({args.real}); AU errors are mean squared over AUs / 5.\n\n"
        + table(rows)
        + "\n"
    )
    print(text)
    write_results(
        Path(args.out),
        "critic_reading",
        {"rows": rows, "seconds": round(time.perf_counter() - start, 1)},
        text,
    )


if __name__ == "__main__":
    main()
