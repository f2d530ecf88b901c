"""Did the edit reach its target? Expression accuracy and action-unit error.

Both score an evaluator's reading of the edited images (the classifier or regressor trained on
real images of the same data) against the target; on SynthFaces the exact AUs can be scored too.
"""

from __future__ import annotations

import torch

from segan.labels import AU_IDS, EXPRESSIONS

__all__ = ["au_error", "expression_accuracy"]


def expression_accuracy(
    predicted: torch.Tensor, target: torch.Tensor, names: tuple[str, ...] = EXPRESSIONS
) -> dict:
    """Accuracy (%) of predicted classes (N,) or logits (N, C) against target classes (N,),
    overall and per target class (classes that occur as targets only)."""
    pred = predicted.argmax(1) if predicted.dim() == 2 else predicted
    if pred.shape != target.shape or target.dim() != 1:
        raise ValueError(
            f"predictions {tuple(predicted.shape)} do not match targets {tuple(target.shape)}"
        )
    if target.numel() == 0:
        raise ValueError("no edits to score")
    hit = (pred.long() == target.long()).double()
    per_class = {}
    for k, name in enumerate(names):
        sel = target == k
        if sel.any():
            per_class[name] = 100 * float(hit[sel].mean())
    return {"accuracy": 100 * float(hit.mean()), "per_class": per_class, "n": int(target.numel())}


def au_error(predicted: torch.Tensor, target: torch.Tensor) -> dict:
    """Mean absolute error of (N, 17) AU intensities (0..5 scale), overall and per AU, with the
    root-mean-square error."""
    if predicted.shape != target.shape or predicted.dim() != 2 or predicted.shape[1] != len(AU_IDS):
        raise ValueError(
            f"expected two (N, {len(AU_IDS)}) AU tensors, got {tuple(predicted.shape)} and "
            f"{tuple(target.shape)}"
        )
    diff = predicted.double() - target.double()
    per_au = diff.abs().mean(0)
    return {
        "mae": float(diff.abs().mean()),
        "rmse": float(diff.pow(2).mean().sqrt()),
        "per_au": {f"AU{au}": float(v) for au, v in zip(AU_IDS, per_au, strict=True)},
        "n": int(predicted.shape[0]),
    }
