"""Action units and an expression label of a real face, from the Face Landmarker's blendshapes.

MediaPipe's 52 blendshape scores (ARKit's names, 0 at rest .. 1 fully on) are turned into the
17 OpenFace AU intensities (0..5) one blendshape per AU, left and right averaged:

AU1 browInnerUp, AU2 browOuterUp, AU4 browDown, AU5 eyeWide, AU6 eyeSquint, AU7 eyeSquint,
AU9 mouthUpperUp, AU10 mouthUpperUp, AU12 mouthSmile, AU14 mouthDimple, AU15 mouthFrown,
AU17 mouthShrugLower, AU20 mouthStretch, AU23 mouthPress, AU25 jawOpen, AU26 jawOpen,
AU45 eyeBlink.

The AU's own blendshapes for AU6 (cheekSquint) and AU9 (noseSneer) read 0 on every one of the
4,993 FFHQ faces the Landmarker finds, so AU6 takes the eye squint (the narrowing of the eye
that the cheek raiser causes) and AU9 the upper-lip raiser that goes with a wrinkled nose: such
pairs move together in these labels. AU25 (lips part) and AU26 (jaw drop) both take jawOpen.

Scale: intensity = 5 * (score - rest) / (1 - rest), clipped to 0..5: a fully-on blendshape is
FACS intensity E (5). `rest` is the score a face at rest shows, measured as the 10th percentile
of the score over the FFHQ training faces (ids below 4000; at least a tenth of real faces leave
any one AU at rest): it is about 0 for every blendshape but the eye squint (0.06-0.12) and the
blink (0.01-0.02), which real eyes at rest read slightly. `benchmarks/annotate.py` measures how
the scale relates to SynthFaces' exact AU intensities and how the expression rule agrees with
the expression judge.

Expression rule (`expression_from_aus`): each expression's EMFACS prototype
(`segan.synth.dataset.EXPRESSION_AUS`, weights w) is fulfilled to the degree
f = sum_k w_k min(AU_k / (w_k FULL), 1) / sum_k w_k over its AUs, each AU counting fully at its
weight times `FULL` (FACS intensity C, "marked"); AU6 and AU9 are left out, as they copy AU7 and
AU10. The face shows the expression fulfilled most (of equals, the one whose prototype holds more
AUs), or is neutral when none reaches `MIN_FULFILMENT`.
"""

from __future__ import annotations

import numpy as np

from segan.labels import AU_IDS, AU_MAX_INTENSITY, EXPRESSION_AUS, EXPRESSIONS
from segan.photos.mesh import BLENDSHAPES

__all__ = [
    "AU_BLENDSHAPES",
    "FULL",
    "MIN_FULFILMENT",
    "REST",
    "as_blendshape_aus",
    "aus_from_blendshapes",
    "expression_from_aus",
    "fulfilment",
]

AU_BLENDSHAPES: dict[int, tuple[str, ...]] = {
    1: ("browInnerUp",),
    2: ("browOuterUpLeft", "browOuterUpRight"),
    4: ("browDownLeft", "browDownRight"),
    5: ("eyeWideLeft", "eyeWideRight"),
    6: ("eyeSquintLeft", "eyeSquintRight"),
    7: ("eyeSquintLeft", "eyeSquintRight"),
    9: ("mouthUpperUpLeft", "mouthUpperUpRight"),
    10: ("mouthUpperUpLeft", "mouthUpperUpRight"),
    12: ("mouthSmileLeft", "mouthSmileRight"),
    14: ("mouthDimpleLeft", "mouthDimpleRight"),
    15: ("mouthFrownLeft", "mouthFrownRight"),
    17: ("mouthShrugLower",),
    20: ("mouthStretchLeft", "mouthStretchRight"),
    23: ("mouthPressLeft", "mouthPressRight"),
    25: ("jawOpen",),
    26: ("jawOpen",),
    45: ("eyeBlinkLeft", "eyeBlinkRight"),
}
# Rest level of each blendshape: its 10th percentile over the FFHQ training faces (128 px).
REST: dict[str, float] = {
    "browInnerUp": 0.000,
    "browOuterUpLeft": 0.002,
    "browOuterUpRight": 0.002,
    "browDownLeft": 0.001,
    "browDownRight": 0.001,
    "eyeWideLeft": 0.002,
    "eyeWideRight": 0.001,
    "eyeSquintLeft": 0.118,
    "eyeSquintRight": 0.059,
    "mouthUpperUpLeft": 0.000,
    "mouthUpperUpRight": 0.000,
    "mouthSmileLeft": 0.000,
    "mouthSmileRight": 0.000,
    "mouthDimpleLeft": 0.001,
    "mouthDimpleRight": 0.001,
    "mouthFrownLeft": 0.000,
    "mouthFrownRight": 0.000,
    "mouthShrugLower": 0.001,
    "mouthStretchLeft": 0.000,
    "mouthStretchRight": 0.001,
    "mouthPressLeft": 0.006,
    "mouthPressRight": 0.007,
    "jawOpen": 0.001,
    "eyeBlinkLeft": 0.021,
    "eyeBlinkRight": 0.011,
}
FULL = 2.5  # an AU at its prototype weight times this counts fully towards the expression
MIN_FULFILMENT = 0.6
COPIES = (6, 9)  # AUs that copy another AU's blendshape (not evidence of their own)


def _table() -> tuple[np.ndarray, np.ndarray]:
    """(17, 52) averaging weights and (52,) rest levels."""
    weights = np.zeros((len(AU_IDS), len(BLENDSHAPES)))
    rest = np.zeros(len(BLENDSHAPES))
    for k, au in enumerate(AU_IDS):
        names = AU_BLENDSHAPES[au]
        for name in names:
            j = BLENDSHAPES.index(name)
            weights[k, j] = 1.0 / len(names)
            rest[j] = REST[name]
    return weights, rest


_WEIGHTS, _REST = _table()


def aus_from_blendshapes(blendshapes: np.ndarray) -> np.ndarray:
    """(..., 17) AU intensities (0..5, segan's AU order) from (..., 52) blendshape scores."""
    scores = np.asarray(blendshapes, np.float64)
    if scores.shape[-1:] != (len(BLENDSHAPES),):
        raise ValueError(
            f"expected (..., {len(BLENDSHAPES)}) blendshape scores, got {scores.shape}"
        )
    level = np.clip((scores - _REST) / (1.0 - _REST), 0.0, 1.0)
    return (level @ _WEIGHTS.T * AU_MAX_INTENSITY).astype(np.float32)


def _shared_groups() -> list[list[int]]:
    """Positions (segan's AU order) of the AUs read off the same blendshapes, in groups."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for au, names in AU_BLENDSHAPES.items():
        groups.setdefault(names, []).append(AU_IDS.index(au))
    return [g for g in groups.values() if len(g) > 1]


_SHARED = _shared_groups()


def as_blendshape_aus(aus: np.ndarray) -> np.ndarray:
    """AU intensities (..., 17) as `aus_from_blendshapes` can label a face: the AUs read off
    the same blendshapes (AU6 and AU7, AU9 and AU10, AU25 and AU26) all take the strongest of
    them. A model trained on these labels has never seen one of such a pair without the other,
    so an edit target (an expression's prototype, a slider) is asked of it in this form."""
    out = np.array(aus, dtype=np.float64, copy=True)
    if out.shape[-1:] != (len(AU_IDS),):
        raise ValueError(f"expected (..., {len(AU_IDS)}) AU intensities, got {out.shape}")
    for group in _SHARED:
        out[..., group] = out[..., group].max(axis=-1, keepdims=True)
    return out


def _prototypes() -> np.ndarray:
    """(8, 17) prototype weights without the copied AUs."""

    protos = EXPRESSION_AUS.numpy().astype(np.float64).copy()
    protos[:, [AU_IDS.index(au) for au in COPIES]] = 0.0
    return protos


def fulfilment(aus: np.ndarray) -> np.ndarray:
    """(..., 8) degree (0..1) to which AU intensities (..., 17) fulfil each expression's
    prototype (neutral's is 0)."""
    aus = np.asarray(aus, np.float64)
    if aus.shape[-1:] != (len(AU_IDS),):
        raise ValueError(f"expected (..., {len(AU_IDS)}) AU intensities, got {aus.shape}")
    protos = _prototypes()
    out = np.zeros((*aus.shape[:-1], len(EXPRESSIONS)))
    for e, w in enumerate(protos):
        on = w > 0
        if on.any():
            got = np.minimum(aus[..., on] / (w[on] * FULL), 1.0)
            out[..., e] = (got * w[on]).sum(-1) / w[on].sum()
    return out


def expression_from_aus(aus: np.ndarray) -> np.ndarray:
    """(...,) expression indices (segan's order) from (..., 17) AU intensities (the rule in the
    module docstring)."""
    f = fulfilment(aus)
    # of expressions fulfilled equally, the one whose prototype holds more AUs (fear's holds
    # surprise's): it explains more of the face
    size = _prototypes().sum(1)
    tied = f >= f.max(-1, keepdims=True) - 1e-9
    best = np.where(tied, size, -1.0).argmax(-1)
    neutral = EXPRESSIONS.index("neutral")
    return np.where(f.max(-1) >= MIN_FULFILMENT, best, neutral).astype(np.int64)
