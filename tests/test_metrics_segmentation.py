"""Segmentation scores against hand-counted examples."""

from __future__ import annotations

import math

import pytest
import torch

from segan.metrics.segmentation import confusion, scores


def test_scores_match_hand_counts():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 2]])
    m = confusion(pred, target, num_classes=4)
    assert m.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    s = scores(m, names=("bg", "a", "b", "unused"))
    # IoU: bg 1/(2+2-1)=1/3, a 2/(2+3-2)=2/3, b 3/(4+3-3)=3/4; class 3 absent
    assert s["iou"] == pytest.approx({"bg": 100 / 3, "a": 200 / 3, "b": 75.0})
    assert s["miou"] == pytest.approx(100 * (1 / 3 + 2 / 3 + 3 / 4) / 3)
    # F1 foreground: a 2*2/(2+3)=0.8, b 2*3/(4+3)=6/7
    assert s["mean_f1_foreground"] == pytest.approx(100 * (0.8 + 6 / 7) / 2)
    assert s["pixel_accuracy"] == pytest.approx(75.0)
    assert "unused" not in s["iou"]


def test_perfect_and_wrong_predictions():
    target = torch.randint(0, 19, (2, 16, 16))
    assert scores(confusion(target, target))["miou"] == pytest.approx(100.0)
    shifted = (target + 1) % 19
    assert scores(confusion(shifted, target))["miou"] == 0.0
    assert math.isfinite(scores(confusion(shifted, target))["mean_f1_foreground"])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ"):
        confusion(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"lie in \[0, 18\]"):
        confusion(torch.zeros(4), torch.full((4,), 19))
