"""segan's conventions as constants: face-part classes, expressions, action units, palettes.

One meaning per name, everywhere (see DESIGN.md). Other orders are converted at the boundary
with the named tables below, never ad hoc.
"""

from __future__ import annotations

import torch

# --- Face parts: the face-parsing.PyTorch order (zllrunning BiSeNet `79999_iter.pth`). -------
# "l_" and "r_" are the subject's own left and right, as in CelebAMask-HQ's annotation: the
# subject's left eye appears on the image's right-hand side in a frontal photo.
FACE_PARTS: tuple[str, ...] = (
    "background",
    "skin",
    "l_brow",
    "r_brow",
    "l_eye",
    "r_eye",
    "eye_g",
    "l_ear",
    "r_ear",
    "ear_r",
    "nose",
    "mouth",
    "u_lip",
    "l_lip",
    "neck",
    "neck_l",
    "cloth",
    "hair",
    "hat",
)
NUM_PARTS = len(FACE_PARTS)
PART_INDEX: dict[str, int] = {name: i for i, name in enumerate(FACE_PARTS)}
# A mask pixel whose class the labels do not say (outside a mesh mask's face oval, brought
# into the frame by a jitter): no loss, not scored.
UNKNOWN_CLASS = 255

# The CelebAMask-HQ UNet order (switchablenorms/CelebAMask-HQ g_mask.py).
CELEBAMASK_UNET_PARTS: tuple[str, ...] = (
    "background",
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)
# UNET_TO_SEGAN[k] is segan's class index for the UNet's class k.
UNET_TO_SEGAN: tuple[int, ...] = tuple(PART_INDEX[name] for name in CELEBAMASK_UNET_PARTS)
SEGAN_TO_UNET: tuple[int, ...] = tuple(CELEBAMASK_UNET_PARTS.index(name) for name in FACE_PARTS)

# Colour for each class when a mask is drawn (RGB uint8), in FACE_PARTS order.
PART_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),  # background
    (204, 153, 102),  # skin
    (102, 51, 0),  # l_brow
    (153, 76, 0),  # r_brow
    (0, 102, 255),  # l_eye
    (51, 204, 255),  # r_eye
    (255, 255, 0),  # eye_g
    (255, 102, 102),  # l_ear
    (255, 153, 153),  # r_ear
    (255, 0, 255),  # ear_r
    (255, 128, 0),  # nose
    (102, 0, 51),  # mouth
    (255, 0, 85),  # u_lip
    (204, 0, 102),  # l_lip
    (153, 204, 0),  # neck
    (0, 204, 153),  # neck_l
    (0, 128, 64),  # cloth
    (90, 60, 160),  # hair
    (0, 153, 204),  # hat
)

# --- Expressions: the AffectNet order. ------------------------------------------------------
EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)
NUM_EXPRESSIONS = len(EXPRESSIONS)
EXPRESSION_INDEX: dict[str, int] = {name: i for i, name in enumerate(EXPRESSIONS)}

# Other datasets' names for the same expressions.
RAFD_EXPRESSIONS: dict[str, str] = {
    "angry": "anger",
    "contemptuous": "contempt",
    "disgusted": "disgust",
    "fearful": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprise",
}
KDEF_EXPRESSIONS: dict[str, str] = {
    "AF": "fear",
    "AN": "anger",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
# AffectNet's CSV codes 8..10 are not expressions: rows with them are dropped by loaders.
AFFECTNET_NON_EXPRESSION_CODES: dict[int, str] = {8: "none", 9: "uncertain", 10: "no-face"}

# --- Action units: the 17 OpenFace intensity AUs. -------------------------------------------
AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
NUM_AUS = len(AU_IDS)
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    25: "lips part",
    26: "jaw drop",
    45: "blink",
}
AU_MAX_INTENSITY = 5.0
# The AU intensity an expression preset asks for at full strength (the app's and the CLI's
# expression edits, sample grids, per-AU edits)
PRESET_AU_INTENSITY = 4.0
# OpenFace CSV column names (without the leading space real files carry).
OPENFACE_AU_COLUMNS: tuple[str, ...] = tuple(f"AU{a:02d}_r" for a in AU_IDS)
# OpenFace's presence columns include AU28, which has no intensity estimate.
OPENFACE_AU_PRESENCE_COLUMNS: tuple[str, ...] = tuple(
    f"AU{a:02d}_c" for a in (*AU_IDS[:16], 28, 45)
)


def au_index(au: int) -> int:
    """Position of FACS action unit `au` (for example 12) in segan's 17-AU vectors."""
    try:
        return AU_IDS.index(au)
    except ValueError:
        raise ValueError(f"AU{au} is not one of segan's 17 AUs {AU_IDS}") from None


def au_label(au: int) -> str:
    """Human-readable name such as 'AU12 lip corner puller'."""
    return f"AU{au} {AU_NAMES[au]}"


# EMFACS prototypes; contempt's AU14 is the one-sided dimpler (segan.synth.geometry draws it).
EXPRESSION_PROTOTYPES: dict[str, dict[int, float]] = {
    "neutral": {},
    "happy": {6: 1.0, 12: 1.0},
    "sad": {1: 1.0, 4: 0.8, 15: 1.0},
    "surprise": {1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0},
    "fear": {1: 1.0, 2: 0.8, 4: 0.8, 5: 1.0, 7: 0.6, 20: 1.0, 26: 0.7},
    "disgust": {9: 1.0, 10: 0.7, 15: 0.8},
    "anger": {4: 1.0, 5: 0.7, 7: 1.0, 23: 1.0},
    "contempt": {12: 0.35, 14: 1.0},
}


def _prototype_table() -> torch.Tensor:
    out = torch.zeros(NUM_EXPRESSIONS, NUM_AUS)
    for e, name in enumerate(EXPRESSIONS):
        for au, weight in EXPRESSION_PROTOTYPES[name].items():
            out[e, AU_IDS.index(au)] = weight
    return out


# (8, 17): the AU prototype of each expression (EXPRESSIONS order), weights in [0, 1].
EXPRESSION_AUS = _prototype_table()


def expression_aus(expression: torch.Tensor | int, intensity: torch.Tensor | float) -> torch.Tensor:
    """AU intensities (..., 17) of expressions (AffectNet indices) at intensities in 0..5."""
    e = torch.as_tensor(expression, dtype=torch.int64)
    if e.numel() and (int(e.min()) < 0 or int(e.max()) >= NUM_EXPRESSIONS):
        raise ValueError(
            f"expression indices must lie in [0, {NUM_EXPRESSIONS - 1}], got {e.tolist()}"
        )
    i = torch.as_tensor(intensity, dtype=torch.float32, device=e.device)
    if i.numel() and (float(i.min()) < 0 or float(i.max()) > AU_MAX_INTENSITY):
        raise ValueError(f"intensity must lie in [0, {AU_MAX_INTENSITY:g}]")
    return EXPRESSION_AUS.to(e.device)[e] * i[..., None]


# The 68 iBUG landmarks of an average aligned neutral face (SynthFaces' mean over 256 people),
# as fractions of the face square's side: point (x, y) lies at pixel (x * R - 0.5, y * R - 0.5)
# of an R px crop. BoxHGAN places its boxes from them when a photo gives no landmarks.
MEAN_LANDMARKS: tuple[tuple[float, float], ...] = (
    (0.29065052, 0.38378062),
    (0.27640977, 0.45874265),
    (0.27528128, 0.52670508),
    (0.28229085, 0.58314729),
    (0.29941078, 0.64007385),
    (0.33555651, 0.68814691),
    (0.38842718, 0.71566381),
    (0.44455687, 0.72827195),
    (0.49996082, 0.73202643),
    (0.55539466, 0.72854042),
    (0.61162517, 0.71618366),
    (0.66467443, 0.68887037),
    (0.70101792, 0.64098361),
    (0.71838063, 0.58419183),
    (0.72566359, 0.52780731),
    (0.72487769, 0.45984079),
    (0.71101695, 0.38480994),
    (0.35918287, 0.41480839),
    (0.38129039, 0.40602964),
    (0.40337915, 0.40465841),
    (0.42545427, 0.40867444),
    (0.44752085, 0.41605753),
    (0.55838737, 0.41638258),
    (0.58049110, 0.40909127),
    (0.60258630, 0.40516702),
    (0.62466785, 0.40663004),
    (0.64673063, 0.41550057),
    (0.50343066, 0.46284678),
    (0.50369335, 0.49875036),
    (0.50395604, 0.53465394),
    (0.50421874, 0.57055752),
    (0.47622838, 0.57901197),
    (0.48927277, 0.58224144),
    (0.50418178, 0.58547559),
    (0.51910662, 0.58231628),
    (0.53216686, 0.57915229),
    (0.36421484, 0.46161652),
    (0.39339607, 0.44860952),
    (0.42479458, 0.44745771),
    (0.45391370, 0.46356645),
    (0.42474312, 0.47157951),
    (0.39334690, 0.47165521),
    (0.55132678, 0.46386241),
    (0.58050592, 0.44787970),
    (0.61189014, 0.44916723),
    (0.64100717, 0.46230026),
    (0.61184098, 0.47221292),
    (0.58045446, 0.47200150),
    (0.42189423, 0.63411704),
    (0.45270573, 0.62274770),
    (0.48025320, 0.62009739),
    (0.50293184, 0.62242378),
    (0.52561507, 0.62021756),
    (0.55314987, 0.62301378),
    (0.58390091, 0.63454620),
    (0.55308444, 0.64910301),
    (0.52553642, 0.65189653),
    (0.50285391, 0.65249015),
    (0.48017455, 0.65177636),
    (0.45264031, 0.64883693),
    (0.43161463, 0.63414279),
    (0.47049623, 0.63424579),
    (0.50289757, 0.63433162),
    (0.53529890, 0.63441745),
    (0.57418050, 0.63452045),
    (0.53529890, 0.63441745),
    (0.50289757, 0.63433162),
    (0.47049623, 0.63424579),
)
