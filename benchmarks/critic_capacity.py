"""How well can the editors' critic read expressions at 64 px, by width? A probe.

Usage: python benchmarks/critic_capacity.py [--widths 16 32] [--steps 4000] [--out DIR]

A GAN editor learns its target expression only through its critic's auxiliary classifier
(StarGAN's domain loss), so the classifier's accuracy on real faces bounds what the generator
is taught. This trains the shipped PatchGAN critic (repeat 5 at 64 px, as the bundled recipes
use) on its classification loss alone, on real SynthFaces train renders, with the recipes'
Adam (4e-4, betas 0.5/0.999, batch 16), and reports its accuracy on held-out test identities
during training, for each width. No GAN is involved: this is the ceiling of the critic's
reading, not what a GAN run reaches.
Writes critic_capacity.json and critic_capacity.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from report import RESULTS, write_results

from segan.labels import NUM_EXPRESSIONS
from segan.models.discriminators import PatchDiscriminator
from segan.synth.dataset import SynthFaces

RES, REPEAT, BATCH, LR = 64, 5, 16, 4e-4


@torch.no_grad()
def accuracy(critic: PatchDiscriminator, test: dict) -> float:
    """Held-out accuracy (%) of the critic's expression head."""
    critic.eval()
    logits = torch.cat([critic(x)[1] for x in test["image"].split(250)])
    critic.train()
    return 100 * float((logits.argmax(1) == test["expression"]).float().mean())


def probe(width: int, steps: int, test: dict, evals: list[int], seed: int = 0) -> dict:
    """Train one critic's classifier alone; its test accuracy at each step in `evals`."""
    torch.manual_seed(seed)
    critic = PatchDiscriminator(RES, width, REPEAT, NUM_EXPRESSIONS)
    opt = torch.optim.Adam(critic.parameters(), lr=LR, betas=(0.5, 0.999))
    train = SynthFaces("train", steps * BATCH, RES, seed=seed)
    curve, t0 = {}, time.perf_counter()
    for step in range(1, steps + 1):
        batch = train.batch(range((step - 1) * BATCH, step * BATCH))
        loss = F.cross_entropy(critic(batch["image"])[1], batch["expression"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in evals:
            curve[step] = accuracy(critic, test)
            print(f"width {width} step {step}: {curve[step]:.1f}% (loss {loss.item():.3f})")
    seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in critic.parameters())
    return {"width": width, "params": params, "seconds": seconds, "accuracy": curve}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--test", type=int, default=1000, help="held-out test renders")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    test = SynthFaces("test", args.test, RES).batch(range(args.test))
    evals = sorted({s for s in (args.steps // 4, args.steps // 2, args.steps) if s > 0})
    rows = [probe(w, args.steps, test, evals) for w in args.widths]
    info = {"resolution": RES, "repeat_num": REPEAT, "batch": BATCH, "lr": LR, "rows": rows}
    head = " | ".join(f"step {s}" for s in evals)
    lines = [
        f"The editors' PatchGAN critic (repeat {REPEAT}, {RES} px) trained on its expression "
        f"loss alone (Adam {LR:g}, batch {BATCH}); accuracy % on {args.test} held-out renders.",
        "",
        f"| width | params | {head} | s/step |",
        "|---" * (3 + len(evals)) + "|",
    ]
    for r in rows:
        accs = " | ".join(f"{r['accuracy'][s]:.1f}" for s in evals)
        lines.append(
            f"| {r['width']} | {r['params']:,} | {accs} | {r['seconds'] / args.steps:.3f} |"
        )
    write_results(args.out, "critic_capacity", info, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
