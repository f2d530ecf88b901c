"""SynthFaces: procedural faces with exact masks, AUs, expressions, landmarks and true edits.

The renderer (`render`) is a pure function of identity ids and the 17 OpenFace AU
intensities. Expressions are FACS/EMFACS AU prototypes scaled by an intensity. `SynthFaces` is
a deterministic torch Dataset over one identity split; `pair`/`render_pair` give, for any edit,
the true edited image of the same person under the same pose and light.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from segan.labels import (
    AU_MAX_INTENSITY,
    EXPRESSION_AUS,
    EXPRESSIONS,
    NUM_AUS,
    NUM_EXPRESSIONS,
    PRESET_AU_INTENSITY,
    expression_aus,
)
from segan.synth.identity import sample_identity
from segan.synth.random import hash_int, hash_uniform
from segan.synth.render import check_resolution, render
from segan.synth.zones import AU_ZONES, ZONES, au_region, zone_masks
from segan.visualize import contact_sheet as sheet

__all__ = [
    "AU_ZONES",
    "SPLITS",
    "ZONES",
    "SynthFaces",
    "au_region",
    "contact_sheet",
    "identity_range",
    "render",
    "render_pair",
    "zone_masks",
]

# Disjoint identity-id ranges per split (ids are any int in [0, 2**31)).
SPLITS: dict[str, tuple[int, int]] = {
    "train": (0, 2_000_000_000),
    "val": (2_000_000_000, 2_050_000_000),
    "test": (2_050_000_000, 2_100_000_000),
}


def identity_range(split: str) -> range:
    """The identity ids of a split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    return range(*SPLITS[split])


def render_pair(
    identity: torch.Tensor,
    source_aus: torch.Tensor,
    target_aus: torch.Tensor,
    resolution: int = 128,
    device: torch.device | str | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Render the same people twice: with source_aus and with target_aus (the true edit)."""
    n = identity.shape[0]
    out = render(
        torch.cat([identity, identity]), torch.cat([source_aus, target_aus]), resolution, device
    )
    first = {k: v[:n] for k, v in out.items()}
    second = {k: v[n:] for k, v in out.items()}
    return first, second


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


class SynthFaces(Dataset):
    """A deterministic dataset of SynthFaces renders over one identity split.

    Item i has a fixed identity (drawn from the split's range by a hash of (seed, i)), an
    expression balanced over the 8 classes, a random intensity in `intensity` and small
    non-negative AU noise. Items carry `image, mask, expression, aus, identity, landmarks,
    intensity`. Batches are rendered at once through `__getitems__` (used by DataLoader).
    `skin_tones=(low, high)` keeps only people whose skin-tone parameter (0 darkest .. 1
    lightest) lies in [low, high): a "style" to train on and hold out (SARGAN's claim of
    generalising to unseen colours).
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 10_000,
        resolution: int = 128,
        seed: int = 0,
        intensity: tuple[float, float] = (2.5, 5.0),
        au_noise: float = 0.3,
        skin_tones: tuple[float, float] | None = None,
    ):
        self.ids = identity_range(split)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.split, self.size, self.seed = split, size, int(seed)
        self.resolution = check_resolution(resolution)
        lo, hi = intensity
        if not 0.0 <= lo <= hi <= AU_MAX_INTENSITY:
            raise ValueError(f"intensity must be (low, high) within [0, 5], got {intensity!r}")
        if not 0.0 <= au_noise <= 1.0:
            raise ValueError(f"au_noise must lie in [0, 1], got {au_noise!r}")
        self.intensity_range, self.au_noise = (float(lo), float(hi)), float(au_noise)
        if skin_tones is not None:
            t_lo, t_hi = (float(v) for v in skin_tones)
            if not 0.0 <= t_lo < t_hi <= 1.0 or t_hi - t_lo < 0.05:
                raise ValueError(
                    f"skin_tones must be (low, high) with 0 <= low < high <= 1 and a range of "
                    f"at least 0.05, got {skin_tones!r}"
                )
            skin_tones = (t_lo, t_hi)
        self.skin_tones = skin_tones

    def _identities(self, idx: torch.Tensor) -> torch.Tensor:
        """Each item's person: the first of its hashed candidates whose skin tone is allowed."""
        start, stop = self.ids.start, self.ids.stop
        if self.skin_tones is None:
            return start + hash_int(idx, 0, salt=self.seed) % (stop - start)
        lo, hi = self.skin_tones
        out = torch.full_like(idx, -1)
        for stream in range(0, 4096, 64):  # a range of 0.05 is found in ~60 tries at worst
            streams = torch.arange(stream, stream + 64)
            cand = start + hash_int(idx[:, None], streams[None, :], salt=self.seed) % (stop - start)
            tone = sample_identity(cand.reshape(-1)).skin_tone.reshape(cand.shape)
            ok = (tone >= lo) & (tone < hi)
            first = torch.where(ok.any(1), ok.float().argmax(1), -1)
            pick = torch.where(first >= 0, cand.gather(1, first.clamp(min=0)[:, None])[:, 0], -1)
            out = torch.where(out < 0, pick, out)
            if bool((out >= 0).all()):
                return out
        raise RuntimeError(f"no identity with skin tone in {self.skin_tones} found")

    def __len__(self) -> int:
        return self.size

    def _index(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        if idx.numel() and (int(idx.min()) < -self.size or int(idx.max()) >= self.size):
            raise IndexError(f"index out of range for SynthFaces of size {self.size}")
        return idx % self.size

    def labels(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        """Identity, expression, intensity and AUs of items, without rendering."""
        idx = self._index(indices)
        identity = self._identities(idx)
        expression = (idx + self.seed) % NUM_EXPRESSIONS
        lo, hi = self.intensity_range
        u = hash_uniform(idx[:, None], torch.arange(1, 2 + NUM_AUS)[None, :], salt=self.seed)
        intensity = lo + (hi - lo) * u[:, 0]
        noise = self.au_noise * u[:, 1:] ** 2
        aus = (EXPRESSION_AUS[expression] * intensity[:, None] + noise).clamp(0, AU_MAX_INTENSITY)
        return {
            "identity": identity,
            "expression": expression,
            "intensity": intensity,
            "aus": aus,
            "au_noise": noise,
        }

    def batch(
        self, indices: Sequence[int] | torch.Tensor, device: torch.device | str | None = None
    ) -> dict[str, torch.Tensor]:
        """Rendered items as one batch of stacked tensors."""
        lab = self.labels(indices)
        out = render(lab["identity"], lab["aus"], self.resolution, device)
        return {
            "image": out["image"],
            "mask": out["mask"],
            "expression": lab["expression"].to(out["image"].device),
            "aus": out["aus"],
            "identity": out["identity"],
            "landmarks": out["landmarks"],
            "intensity": lab["intensity"].to(out["image"].device),
        }

    def __getitem__(self, index: int | Sequence[int]) -> dict[str, torch.Tensor]:
        """One item, or a whole batch (stacked tensors) for a list of indices."""
        if isinstance(index, int | torch.SymInt) or (
            isinstance(index, torch.Tensor) and index.dim() == 0
        ):
            return {k: v[0] for k, v in self.batch([int(index)]).items()}
        return self.batch(index)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        b = self.batch(indices)
        return [{k: v[j] for k, v in b.items()} for j in range(len(indices))]

    def loader(
        self,
        batch_size: int,
        shuffle: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        drop_last: bool = False,
    ) -> DataLoader:
        """A DataLoader yielding rendered batches: each batch is rendered in one call and never
        re-collated item by item. Workers render on one thread each, so both cores work."""
        gen = torch.Generator().manual_seed(seed)
        order = RandomSampler(self, generator=gen) if shuffle else SequentialSampler(self)
        return DataLoader(
            self,
            sampler=BatchSampler(order, batch_size, drop_last),
            batch_size=None,
            num_workers=num_workers,
            worker_init_fn=_one_thread if num_workers else None,
            persistent_workers=num_workers > 0,
        )

    def target_aus(
        self, indices: Sequence[int] | torch.Tensor, target: torch.Tensor | int | Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """AUs of the true edit of items to `target`, and the target expression (-1 for AUs).

        `target` is an expression index (one, or one per item) or an AU vector (17,) or (N, 17).
        An expression target keeps the item's intensity and AU noise: only the expression
        changes.
        """
        lab = self.labels(indices)
        n = lab["identity"].shape[0]
        t = torch.as_tensor(target)
        if t.dtype.is_floating_point:
            aus = t.float().expand(n, NUM_AUS) if t.dim() == 1 else t.float()
            if aus.shape != (n, NUM_AUS):
                raise ValueError(
                    f"AU target must have shape (17,) or ({n}, 17), got {tuple(t.shape)}"
                )
            return aus.clamp(0, AU_MAX_INTENSITY), torch.full((n,), -1, dtype=torch.int64)
        expr = t.to(torch.int64).expand(n) if t.dim() == 0 else t.to(torch.int64)
        if expr.shape != (n,):
            raise ValueError(f"expression target must be one index or {n} indices")
        aus = expression_aus(expr, lab["intensity"]) + lab["au_noise"]
        return aus.clamp(0, AU_MAX_INTENSITY), expr

    def pair(
        self,
        indices: Sequence[int] | torch.Tensor | int,
        target: torch.Tensor | int | Sequence[int],
        device: torch.device | str | None = None,
    ) -> dict[str, torch.Tensor]:
        """Source items, the target, and the true edited images of the same people.

        Returns the source batch keys plus `target_expression` (-1 for AU targets),
        `target_aus`, `edited` (true edited images), `edited_mask` and `edited_landmarks`.
        """
        single = isinstance(indices, int)
        idx = [indices] if single else indices
        lab = self.labels(idx)
        tgt_aus, tgt_expr = self.target_aus(idx, target)
        src, edit = render_pair(lab["identity"], lab["aus"], tgt_aus, self.resolution, device)
        dev = src["image"].device
        out = {
            "image": src["image"],
            "mask": src["mask"],
            "expression": lab["expression"].to(dev),
            "aus": src["aus"],
            "identity": src["identity"],
            "landmarks": src["landmarks"],
            "intensity": lab["intensity"].to(dev),
            "target_expression": tgt_expr.to(dev),
            "target_aus": edit["aus"],
            "edited": edit["image"],
            "edited_mask": edit["mask"],
            "edited_landmarks": edit["landmarks"],
        }
        return {k: v[0] for k, v in out.items()} if single else out


def contact_sheet(
    n: int = 64,
    resolution: int = 128,
    split: str = "test",
    seed: int = 0,
    intensity: float = PRESET_AU_INTENSITY,
    masks: bool = True,
):
    """A PIL contact sheet of n faces: rows of identities, columns of the 8 expressions,
    each row followed by its colour-coded class masks."""

    if isinstance(n, bool) or not isinstance(n, int) or n <= 0 or n % NUM_EXPRESSIONS:
        raise ValueError(
            f"n must be a positive multiple of {NUM_EXPRESSIONS} (one row of the "
            f"{NUM_EXPRESSIONS} expressions per identity), got {n!r}"
        )
    rows = n // NUM_EXPRESSIONS
    start = identity_range(split).start
    ids = start + hash_int(torch.arange(rows), 0, salt=seed) % len(identity_range(split))
    identity = ids.repeat_interleave(NUM_EXPRESSIONS)
    expr = torch.arange(NUM_EXPRESSIONS).repeat(rows)
    out = render(identity, expression_aus(expr, intensity), resolution)
    return sheet(out["image"], out["mask"] if masks else None, NUM_EXPRESSIONS, EXPRESSIONS)
