"""Loss terms shared by the methods: free functions of tensors (no models held here).

Each method combines them in its own `d_loss`/`g_loss` and returns `(total, terms)` where
`terms` maps a name to a detached scalar for logging.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from segan.labels import UNKNOWN_CLASS


def wasserstein_d(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """Critic loss of WGAN: -E[D(real)] + E[D(fake)] (patch maps averaged)."""
    return fake_score.mean() - real_score.mean()


def wasserstein_g(fake_score: torch.Tensor) -> torch.Tensor:
    """Generator loss of WGAN: -E[D(fake)]."""
    return -fake_score.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    scale: Callable[[torch.Tensor], torch.Tensor] | None = None,
    inv_scale: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP: E[(|grad_x D(x_hat)| - 1)^2] on random interpolates of real and fake.

    With fp16 loss scaling pass the scaler's `scale` and `1 / scale` so the input gradient is
    taken of the scaled score (no underflow) and unscaled before the penalty. The penalty is
    part of the critic loss that is back-propagated once, so under DDP its parameter
    gradients are all-reduced with the rest.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    score = critic(mixed).float().sum()
    if scale is not None:
        score = scale(score)
    (grad,) = torch.autograd.grad(score, mixed, create_graph=True)
    grad = grad.float().flatten(1) * inv_scale
    return ((grad.norm(dim=1) - 1.0) ** 2).mean()


def classification(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against class indices (N,) or soft/one-hot targets (N, C)."""
    logits = logits.float()
    if target.dim() == 2:
        return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    return F.cross_entropy(logits, target)


def au_regression(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of predicted action units."""
    return F.mse_loss(prediction.float(), target.float())


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).abs().mean()


def total_variation(x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Anisotropic L1 total variation of (N, C, H, W); "sum" as in GANimation's mask term."""
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs()
    if reduction == "sum":
        return (dh.sum() + dw.sum()) / x.shape[0]
    return dh.mean() + dw.mean()


def segmentation(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = UNKNOWN_CLASS):
    """Pixel cross-entropy of (N, C, H, W) logits against (N, H, W) class maps, over the
    pixels whose class is known."""
    return F.cross_entropy(logits.float(), target, ignore_index=ignore_index)


def soft_dice(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = UNKNOWN_CLASS, eps: float = 1.0
) -> torch.Tensor:
    """One minus the soft Dice overlap of (N, C, H, W) logits' probabilities with (N, H, W)
    class maps over the known pixels, averaged over the classes the labels hold (cross-
    entropy answers for the others). Every class counts alike, so thin parts (brows, lips)
    weigh as much as skin: the overlap that mean IoU rewards (Milletari et al., V-Net, 2016)."""
    known = target != ignore_index
    probs = logits.float().softmax(1) * known.unsqueeze(1)
    onehot = F.one_hot(target.masked_fill(~known, 0), logits.shape[1]).permute(0, 3, 1, 2)
    onehot = onehot.to(probs.dtype) * known.unsqueeze(1)
    inter = (probs * onehot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    present = onehot.sum((0, 2, 3)) > 0
    if not bool(present.any()):
        return logits.float().sum() * 0.0  # no known pixel: no gradient, graph kept
    dice = (2 * inter + eps) / (total + eps)
    return 1 - dice[present].mean()


def partial_nll(logits: torch.Tensor, target: torch.Tensor, allowed: dict[int, torch.Tensor]):
    """Negative log of the probability (N, C, H, W) logits give to a set of classes, averaged
    over the (N, H, W) target's pixels whose label is a key of `allowed` ((C,) bool: the classes
    that label admits), the loss of partial labels (Jin and Ghahramani, NeurIPS 2002); zero
    with the graph kept when no pixel has one."""
    logits = logits.float()
    total = logits.sum() * 0.0
    count = 0
    log_all = logits.logsumexp(1)
    for value, classes in allowed.items():
        where = target == value
        n = int(where.sum())
        if not n:
            continue
        masked = logits.masked_fill(~classes.to(logits.device)[None, :, None, None], float("-inf"))
        total = total + (log_all - masked.logsumexp(1))[where].sum()
        count += n
    return total / max(count, 1)


def ohem_segmentation(
    logits: torch.Tensor,
    target: torch.Tensor,
    thresh: float = 0.7,
    min_kept: int | None = None,
    ignore_index: int = UNKNOWN_CLASS,
) -> torch.Tensor:
    """Online hard example mining cross-entropy (BiSeNet): the mean loss of the known pixels
    whose probability of the true class is below `thresh`, and at least the `min_kept` hardest
    (default a 16th of the known pixels)."""
    known = (target != ignore_index).flatten()
    losses = F.cross_entropy(logits.float(), target, reduction="none", ignore_index=ignore_index)
    losses = losses.flatten()[known]
    if losses.numel() == 0:
        return logits.float().sum() * 0.0  # no known pixel: no gradient, graph kept
    n_min = min_kept if min_kept is not None else losses.numel() // 16
    threshold = -torch.log(torch.tensor(thresh, device=losses.device))
    hard = losses[losses > threshold]
    if hard.numel() < n_min:
        hard = torch.topk(losses, max(n_min, 1)).values
    return hard.mean()


def first_nonfinite(terms: dict[str, torch.Tensor]) -> str | None:
    """The name of the first term that is NaN or infinite, or None (one device sync)."""
    names = list(terms)
    ok = torch.stack([torch.isfinite(terms[k].detach()).all() for k in names])
    if bool(ok.all()):
        return None
    return names[int((~ok).nonzero()[0])]


def finite_or_raise(terms: dict[str, torch.Tensor], step: int, reduce=None) -> None:
    """Stop a run whose loss is not finite, naming the step and the term.

    `reduce` (sum over processes) makes every rank of a distributed run stop together, so
    no rank is left waiting in a gradient all-reduce.
    """
    bad = first_nonfinite(terms)
    if reduce is not None:
        device = next(iter(terms.values())).device
        flag = torch.tensor([0.0 if bad is None else 1.0], device=device)
        if float(reduce(flag)) > 0 and bad is None:
            raise FloatingPointError(f"a loss term is not finite on another process at step {step}")
    if bad is not None:
        raise FloatingPointError(f"loss term {bad!r} is {float(terms[bad])} at step {step}")
