"""segan's conventions as constants: face-part classes, expressions, action units, palettes.

One meaning per name, everywhere (see DESIGN.md). Other orders are converted at the boundary
with the named tables below, never ad hoc.
"""

from __future__ import annotations

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
