"""Face-parsing scores from a confusion matrix: per-class IoU and F1, their means.

Accumulate `confusion(pred, target)` over a test set, then read `scores(matrix)`. Means are
taken over the classes that occur (in the ground truth or the prediction); `foreground` means
skip class 0 (background), as CelebAMask-HQ F1 tables do.
"""

from __future__ import annotations

import torch

from segan.labels import FACE_PARTS, NUM_PARTS
from segan.labels import UNKNOWN_CLASS as UNKNOWN


def confusion(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int = NUM_PARTS
) -> torch.Tensor:
    """(C, C) int64 counts: rows are true classes, columns predicted, over every pixel whose
    true class is known (target `UNKNOWN` pixels are left out)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    t, p = target.reshape(-1).long(), pred.reshape(-1).long()
    known = t != UNKNOWN
    t, p = t[known], p[known]
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
        raise ValueError(f"target labels must lie in [0, {num_classes - 1}] or be {UNKNOWN}")
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= num_classes):
        raise ValueError(f"predicted labels must lie in [0, {num_classes - 1}]")
    index = t * num_classes + p
    return torch.bincount(index.cpu(), minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(
    matrix: torch.Tensor, names: tuple[str, ...] = FACE_PARTS, labelled_only: bool = False
) -> dict:
    """Per-class IoU and F1 and their means, in percent, over the classes present in the
    truth or the prediction, or with `labelled_only` over the classes the truth contains (labels
    that give only some classes, such as mesh masks: a class they never name cannot be
    scored)."""
    m = matrix.double()
    tp = m.diag()
    gt, pr = m.sum(1), m.sum(0)
    union = gt + pr - tp
    present = gt > 0 if labelled_only else union > 0
    iou = torch.where(present, tp / union.clamp(min=1), torch.nan)
    f1 = torch.where(present, 2 * tp / (gt + pr).clamp(min=1), torch.nan)
    fg = present.clone()
    fg[0] = False
    return {
        "miou": 100 * float(iou[present].mean()),
        "mean_f1_foreground": 100 * float(f1[fg].mean()) if fg.any() else float("nan"),
        "pixel_accuracy": 100 * float(tp.sum() / m.sum().clamp(min=1)),
        "iou": {names[i]: 100 * float(iou[i]) for i in range(len(names)) if present[i]},
        "f1": {names[i]: 100 * float(f1[i]) for i in range(len(names)) if present[i]},
    }


def segmentation_scores(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """`scores` of one batch of predicted and true class masks (accumulate `confusion` over
    batches for a whole test set)."""
    return scores(confusion(pred, target))
