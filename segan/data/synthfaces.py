"""SynthFaces: procedural faces with exact masks, AUs, expressions, landmarks and true edits."""

from __future__ import annotations

import torch

from segan.data.synth.render import render
from segan.labels import AU_IDS, EXPRESSIONS, NUM_AUS

__all__ = ["EXPRESSION_AUS", "render"]


def _prototypes() -> torch.Tensor:
    table = {
        "neutral": {},
        "happy": {6: 1.0, 12: 1.0},
        "sad": {1: 1.0, 4: 0.8, 15: 1.0},
        "surprise": {1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0},
        "fear": {1: 1.0, 2: 0.8, 4: 0.8, 5: 1.0, 7: 0.6, 20: 1.0, 26: 0.7},
        "disgust": {9: 1.0, 15: 0.8, 10: 0.7},
        "anger": {4: 1.0, 5: 0.7, 7: 1.0, 23: 1.0},
        "contempt": {12: 0.35, 14: 1.0},
    }
    out = torch.zeros(len(EXPRESSIONS), NUM_AUS)
    for e, name in enumerate(EXPRESSIONS):
        for au, w in table[name].items():
            out[e, AU_IDS.index(au)] = w
    return out


EXPRESSION_AUS = _prototypes()
