"""Identity parameters of a SynthFaces person: shape, colours, hair, accessories, pose, light.

Every parameter is drawn from `hash_uniform(identity, stream)` with its own fixed stream, so an
identity id always yields the same person, whatever the batch or device. New parameters must be
appended to `_SPECS` (never inserted) so that existing identities keep their looks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from segan.synth.random import hash_uniform

# (name, kind, spec): uniform -> (low, high); choice -> probabilities; flag -> probability.
_SPECS: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    # pose and camera
    ("yaw", "uniform", (-0.30, 0.30)),
    ("roll", "uniform", (-0.08, 0.08)),
    ("scale", "uniform", (1.02, 1.12)),
    ("shift_x", "uniform", (-0.04, 0.04)),
    ("shift_y", "uniform", (-0.03, 0.04)),
    # light
    ("light_azimuth", "uniform", (-0.9, 0.9)),
    ("light_elevation", "uniform", (0.15, 0.75)),
    ("ambient", "uniform", (0.45, 0.62)),
    ("light_warmth", "uniform", (-1.0, 1.0)),
    # head shape
    ("face_width", "uniform", (0.39, 0.46)),
    ("face_top", "uniform", (0.56, 0.64)),
    ("jaw_square", "uniform", (0.1, 0.9)),
    ("chin_drop", "uniform", (0.16, 0.21)),
    # skin
    ("skin_tone", "uniform", (0.0, 1.0)),
    ("skin_red", "uniform", (-1.0, 1.0)),
    ("blush", "uniform", (0.0, 1.0)),
    # eyes
    ("eye_y", "uniform", (-0.095, -0.055)),
    ("eye_sep", "uniform", (0.160, 0.190)),
    ("eye_w", "uniform", (0.076, 0.092)),
    ("eye_h", "uniform", (0.026, 0.034)),
    ("eye_tilt", "uniform", (-0.25, 0.35)),
    ("iris", "choice", (0.30, 0.22, 0.14, 0.10, 0.16, 0.08)),
    ("iris_size", "uniform", (0.40, 0.47)),
    ("lash", "uniform", (0.0, 1.0)),
    # brows
    ("brow_gap", "uniform", (0.075, 0.100)),
    ("brow_arch", "uniform", (0.010, 0.030)),
    ("brow_thick", "uniform", (0.018, 0.032)),
    ("brow_len", "uniform", (1.00, 1.25)),
    ("brow_dark", "uniform", (0.0, 1.0)),
    # nose
    ("nose_len", "uniform", (0.180, 0.225)),
    ("nose_w", "uniform", (0.060, 0.080)),
    ("nose_bridge", "uniform", (0.020, 0.032)),
    # mouth
    ("mouth_gap", "uniform", (0.105, 0.135)),
    ("mouth_w", "uniform", (0.135, 0.170)),
    ("lip_upper", "uniform", (0.020, 0.032)),
    ("lip_lower", "uniform", (0.027, 0.042)),
    ("lip_bow", "uniform", (0.0, 1.0)),
    ("lip_hue", "uniform", (0.0, 1.0)),
    # ears and neck
    ("ear_y", "uniform", (-0.06, 0.0)),
    ("ear_size", "uniform", (0.9, 1.15)),
    ("neck_w", "uniform", (0.50, 0.60)),
    # hair
    ("hair_style", "choice", (0.07, 0.10, 0.30, 0.20, 0.25, 0.08)),
    ("hair_color", "choice", (0.28, 0.24, 0.12, 0.12, 0.07, 0.07, 0.04, 0.06)),
    ("hair_jitter", "uniform", (-1.0, 1.0)),
    ("hair_volume", "uniform", (0.0, 1.0)),
    ("hairline", "uniform", (-0.44, -0.34)),
    ("hair_part", "uniform", (-0.16, 0.16)),
    ("fringe", "flag", (0.28,)),
    ("fringe_depth", "uniform", (0.05, 0.13)),
    ("hair_length", "uniform", (0.0, 1.0)),
    # clothing
    ("cloth_hue", "uniform", (0.0, 1.0)),
    ("cloth_sat", "uniform", (0.1, 0.9)),
    ("cloth_val", "uniform", (0.15, 0.95)),
    ("cloth_stripes", "flag", (0.25,)),
    ("cloth_hue2", "uniform", (0.0, 1.0)),
    ("neckline", "uniform", (0.10, 0.26)),
    ("shoulder_y", "uniform", (0.54, 0.64)),
    # accessories
    ("glasses", "flag", (0.16,)),
    ("glasses_round", "uniform", (0.0, 1.0)),
    ("glasses_color", "choice", (0.45, 0.2, 0.2, 0.15)),
    ("glasses_tint", "uniform", (0.0, 0.45)),
    ("earrings", "flag", (0.22,)),
    ("earring_hoop", "flag", (0.5,)),
    ("earring_gold", "flag", (0.5,)),
    ("hat", "flag", (0.10,)),
    ("hat_hue", "uniform", (0.0, 1.0)),
    ("hat_val", "uniform", (0.15, 0.9)),
    ("necklace", "flag", (0.14,)),
    ("necklace_kind", "choice", (0.4, 0.3, 0.3)),
    # background
    ("bg_hue1", "uniform", (0.0, 1.0)),
    ("bg_hue2", "uniform", (0.0, 1.0)),
    ("bg_sat", "uniform", (0.0, 0.7)),
    ("bg_val1", "uniform", (0.15, 0.95)),
    ("bg_val2", "uniform", (0.15, 0.95)),
    ("bg_angle", "uniform", (0.0, 6.2832)),
    ("bg_pattern", "choice", (0.45, 0.25, 0.15, 0.15)),
    ("bg_pattern_freq", "uniform", (2.0, 7.0)),
    # textures
    ("tex_index", "uniform", (0.0, 1.0)),
    ("tex_off_x", "uniform", (0.0, 1.0)),
    ("tex_off_y", "uniform", (0.0, 1.0)),
    ("freckles", "uniform", (0.0, 1.0)),
)
STREAMS: dict[str, int] = {name: i for i, (name, _, _) in enumerate(_SPECS)}

HAIR_STYLES = ("bald", "buzz", "short", "medium", "long", "curly")
# Base hair colours (linear-ish RGB in [0, 1]): black, dark brown, brown, light brown, blonde,
# auburn, grey/white, dyed (hue taken from hair_jitter).
HAIR_COLORS = (
    (0.045, 0.038, 0.035),
    (0.13, 0.075, 0.045),
    (0.27, 0.16, 0.09),
    (0.42, 0.29, 0.17),
    (0.78, 0.62, 0.36),
    (0.50, 0.19, 0.08),
    (0.70, 0.69, 0.68),
    (0.35, 0.25, 0.55),
)
IRIS_COLORS = (
    (0.16, 0.09, 0.05),  # dark brown
    (0.33, 0.19, 0.09),  # brown
    (0.42, 0.33, 0.16),  # hazel
    (0.27, 0.42, 0.25),  # green
    (0.28, 0.45, 0.66),  # blue
    (0.45, 0.50, 0.54),  # grey
)
# Skin tone ramp from very dark to very light.
SKIN_RAMP = (
    (0.23, 0.14, 0.10),
    (0.36, 0.22, 0.15),
    (0.53, 0.34, 0.23),
    (0.70, 0.49, 0.36),
    (0.82, 0.62, 0.50),
    (0.93, 0.76, 0.66),
    (0.98, 0.85, 0.77),
)
GLASSES_COLORS = ((0.05, 0.05, 0.05), (0.35, 0.2, 0.08), (0.75, 0.72, 0.68), (0.55, 0.08, 0.12))


@dataclass
class Identity:
    """All per-person parameters of a batch: `values[name]` is a float tensor of shape (N,)."""

    ids: torch.Tensor
    values: Mapping[str, torch.Tensor]
    colors: Mapping[str, torch.Tensor]  # name -> (N, 3)

    def __getattr__(self, name: str) -> torch.Tensor:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def n(self) -> int:
        return self.ids.shape[0]

    def subset(self, idx: torch.Tensor) -> Identity:
        """The parameters of the samples `idx` only (indexed on first use)."""
        return Identity(
            ids=self.ids[idx], values=LazyRows(self.values, idx), colors=LazyRows(self.colors, idx)
        )


class LazyRows(Mapping):
    """A read-only view of a dict of per-sample tensors restricted to rows `idx`.

    A painter of a rare part uses a handful of the ~100 parameters; indexing only those keeps
    the cost of painting a subset of the batch small.
    """

    def __init__(self, source: Mapping[str, torch.Tensor], idx: torch.Tensor):
        self._source, self._idx, self._cache = source, idx, {}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = self._source[key][self._idx]
        return self._cache[key]

    def __iter__(self):
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


def _ramp(table: tuple[tuple[float, float, float], ...], t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear colour ramp through `table` at t in [0, 1] -> (N, 3)."""
    pal = torch.tensor(table, dtype=torch.float32, device=t.device)
    pos = t.clamp(0, 1) * (len(table) - 1)
    i0 = pos.floor().long().clamp(max=len(table) - 2)
    w = (pos - i0.float())[:, None]
    return pal[i0] * (1 - w) + pal[i0 + 1] * w


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Vectorised HSV -> RGB for (N,) tensors, returns (N, 3)."""
    k = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    kk = (k[None, :] + h[:, None] * 6.0) % 6.0
    f = torch.minimum(kk, 4.0 - kk).clamp(0, 1)
    return v[:, None] - v[:, None] * s[:, None] * f


def sample_identity(ids: torch.Tensor) -> Identity:
    """Parameters of the people with the given ids (LongTensor (N,))."""
    streams = torch.arange(len(_SPECS), device=ids.device)
    u = hash_uniform(ids[:, None], streams[None, :])  # (N, P)
    values: dict[str, torch.Tensor] = {}
    for j, (name, kind, spec) in enumerate(_SPECS):
        x = u[:, j]
        if kind == "uniform":
            lo, hi = spec
            values[name] = lo + (hi - lo) * x
        elif kind == "flag":
            values[name] = (x < spec[0]).float()
        else:
            cdf = torch.tensor(spec, device=ids.device).cumsum(0)
            cdf = cdf / cdf[-1]
            values[name] = torch.bucketize(x.contiguous(), cdf[:-1], right=True).float()
    v = values

    style = v["hair_style"].long()
    # Curly and long hair are never on a bald or buzz-cut head; buzz has no fringe.
    v["fringe"] = v["fringe"] * (style >= 2).float()

    colors: dict[str, torch.Tensor] = {}
    skin = _ramp(SKIN_RAMP, v["skin_tone"])
    skin = skin * (1 + 0.06 * torch.stack([v["skin_red"], -0.3 * v["skin_red"], -v["skin_red"]], 1))
    colors["skin"] = skin.clamp(0, 1)

    hair_idx = v["hair_color"].long()
    hair = torch.tensor(HAIR_COLORS, device=ids.device)[hair_idx]
    hair = hair * (1 + 0.18 * v["hair_jitter"][:, None])
    dyed = hsv_to_rgb(
        (v["hair_jitter"] * 0.5 + 0.5), torch.full_like(v["skin_tone"], 0.65), 0.55 + 0 * v["yaw"]
    )
    is_dyed = (hair_idx == len(HAIR_COLORS) - 1).float()[:, None]
    colors["hair"] = (hair * (1 - is_dyed) + dyed * is_dyed).clamp(0, 1)
    # Brows: the hair colour, darker for light hair, and never lighter than mid-brown for most.
    brow = colors["hair"] * (0.55 + 0.25 * v["brow_dark"][:, None])
    light_hair = (colors["hair"].mean(1, keepdim=True) > 0.4).float()
    brow = brow * (1 - 0.45 * light_hair)
    colors["brow"] = brow

    colors["iris"] = torch.tensor(IRIS_COLORS, device=ids.device)[v["iris"].long()]

    # Lips: the skin tone pulled toward red/rose/brown.
    lip_target = _ramp(((0.62, 0.20, 0.22), (0.72, 0.33, 0.35), (0.45, 0.20, 0.17)), v["lip_hue"])
    colors["lip"] = 0.45 * skin + 0.55 * lip_target * (0.6 + 0.4 * skin.mean(1, keepdim=True))

    colors["cloth"] = hsv_to_rgb(v["cloth_hue"], v["cloth_sat"], v["cloth_val"])
    colors["cloth2"] = hsv_to_rgb(v["cloth_hue2"], v["cloth_sat"] * 0.8, 1.0 - 0.7 * v["cloth_val"])
    colors["hat"] = hsv_to_rgb(v["hat_hue"], 0.55 + 0 * v["hat_val"], v["hat_val"])
    colors["glasses"] = torch.tensor(GLASSES_COLORS, device=ids.device)[v["glasses_color"].long()]
    gold = torch.tensor([0.85, 0.66, 0.25], device=ids.device)
    silver = torch.tensor([0.80, 0.80, 0.82], device=ids.device)
    g = v["earring_gold"][:, None]
    colors["earring"] = gold * g + silver * (1 - g)
    neck_kinds = torch.tensor(
        [[0.85, 0.66, 0.25], [0.80, 0.80, 0.82], [0.93, 0.91, 0.86]], device=ids.device
    )
    colors["necklace"] = neck_kinds[v["necklace_kind"].long()]
    colors["bg1"] = hsv_to_rgb(v["bg_hue1"], v["bg_sat"], v["bg_val1"])
    colors["bg2"] = hsv_to_rgb(v["bg_hue2"], v["bg_sat"] * 0.8, v["bg_val2"])
    warm = v["light_warmth"][:, None] * torch.tensor([0.06, 0.0, -0.07], device=ids.device)
    # Auto exposure: a camera exposes for the face, so darker skin gets a brighter exposure.
    exposure = 1.0 + 0.45 * (1.0 - v["skin_tone"]) ** 2
    colors["light"] = (1.0 + warm) * exposure[:, None]
    return Identity(ids=ids, values=values, colors=colors)
