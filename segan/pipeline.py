"""EditPipeline: a photo in, the same photo with its face's expression edited out.

photo -> face box (detected, or given) -> square crop at the model's resolution -> condition
(an expression and an intensity, or action units) -> edit -> the change pasted back into the
full-size photo. It also returns what explains the edit (the parser's part map, seghgan's region
masks, GANimation's attention, boxhgan's boxes) and its timings. The Gradio app and
`segan edit` are both thin layers over this module.

Intensity: for label models (stargan, sargan, seghgan, boxhgan) the edit's change is scaled,
out = x + intensity * (G(x, target) - x), so 0 is the input, 1 the model's edit and 1.25
exaggerates it; for AU models the target AUs are the expression's prototype at an AU intensity
of 4 * intensity (SynthFaces faces span 2.5..5), and `finegrained` receives the relative AUs
(target - source, source read by the AU estimator when there is one, else zero). A model
whose AU labels tie AUs together (FFHQ's, read off blendshapes: AU6 with AU7, AU9 with AU10,
AU25 with AU26) is asked for its targets in that form (`segan.photos.aus.as_blendshape_aus`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from segan.bundled import available
from segan.data.catalog import DATA_AU_LABELS
from segan.labels import (
    AU_IDS,
    AU_MAX_INTENSITY,
    EXPRESSIONS,
    PRESET_AU_INTENSITY,
    au_index,
    expression_aus,
)
from segan.models.hub import load
from segan.photos.align import Alignment
from segan.photos.aus import as_blendshape_aus, aus_from_blendshapes
from segan.photos.faces import (
    DEFAULT_SCALE,
    CropBox,
    centre_square,
    crop_image,
    find_face,
    paste_back,
    square_box,
)
from segan.photos.finder import FaceFinder
from segan.photos.images import (
    Photo,
    check_pixels,
    photo_from_array,
    photo_from_pil,
    read_photo,
    to_tensor,
)
from segan.photos.landmarks import FaceMesh
from segan.visualize import colorize_mask, to_uint8

__all__ = [
    "ALIGNMENTS",
    "MAX_INTENSITY",
    "MAX_PIXELS",
    "PRESET_AU_INTENSITY",
    "EditPipeline",
    "EditResult",
    "Placement",
    "compare",
    "expression_preset",
    "parse_aus",
]

ALIGNMENTS = ("box", "ffhq")
# The bundled parsers that draw the part map of a model's crops, by how its crops are cut (the
# first one installed): a real-face model's crops go to the parsers trained on real faces.
PART_MAP_PARSERS: dict[str, tuple[str, ...]] = {
    "box": ("bisenet", "unet"),
    "ffhq": ("unet-ffhq", "bisenet-ffhq"),
}
MAX_INTENSITY = 1.25
MAX_PIXELS = 50_000_000  # photos above this are refused with their size (the app's bound)
EXPLAIN_SIZE = 256  # explanation pictures are enlarged (nearest) to this side for viewing
FaceBox = tuple[int, int, int, int]  # x, y, w, h in photo pixels


def expression_preset(expression: str, intensity: float = 1.0) -> np.ndarray:
    """The 17 AU intensities (0..5) of an expression's prototype at `intensity` (0..1.25)."""
    k = _expression_index(expression)
    _check_intensity(intensity)
    level = min(PRESET_AU_INTENSITY * intensity, AU_MAX_INTENSITY)
    return expression_aus(k, level).numpy().astype(np.float64)


def parse_aus(aus: Mapping[int | str, float] | Sequence[float] | np.ndarray) -> np.ndarray:
    """17 AU intensities in segan's AU order from a full vector or a mapping such as
    {12: 3.0, "AU6": 2.0} (AUs not named are 0); values must lie in 0..5."""
    if isinstance(aus, Mapping):
        out = np.zeros(len(AU_IDS))
        for key, value in aus.items():
            text = str(key).upper().removeprefix("AU").split("_")[0]
            if not text.isdigit():
                raise ValueError(f"AU key {key!r} is not an AU number such as 12 or 'AU12'")
            out[au_index(int(text))] = float(value)
    else:
        out = np.asarray(aus, dtype=np.float64).reshape(-1)
        if out.shape != (len(AU_IDS),):
            raise ValueError(f"aus must hold {len(AU_IDS)} values (AUs {AU_IDS}), got {out.size}")
    bad = np.flatnonzero((out < 0) | (out > AU_MAX_INTENSITY) | ~np.isfinite(out))
    if bad.size:
        au = AU_IDS[int(bad[0])]
        raise ValueError(f"AU{au} = {out[bad[0]]:g} lies outside 0..{AU_MAX_INTENSITY:g}")
    return out


def _expression_index(expression: str | int) -> int:
    if isinstance(expression, (int, np.integer)) and 0 <= int(expression) < len(EXPRESSIONS):
        return int(expression)
    if isinstance(expression, str) and expression.lower() in EXPRESSIONS:
        return EXPRESSIONS.index(expression.lower())
    raise ValueError(f"unknown expression {expression!r}; choose one of {', '.join(EXPRESSIONS)}")


def _check_intensity(intensity: float) -> None:
    if not 0.0 <= float(intensity) <= MAX_INTENSITY:
        raise ValueError(f"intensity must lie in [0, {MAX_INTENSITY}], got {intensity}")


def _enlarge(picture: np.ndarray, side: int = EXPLAIN_SIZE) -> np.ndarray:
    """A small (h, w[, 3]) uint8 picture blown up with nearest neighbours, for viewing."""
    if picture.shape[0] >= side:
        return picture
    return cv2.resize(picture, (side, side), interpolation=cv2.INTER_NEAREST)


def draw_box(
    rgb: np.ndarray,
    face: FaceBox,
    crop: CropBox | None = None,
    alignment: Alignment | None = None,
) -> np.ndarray:
    """A copy of the photo with the detected face box (green) and the crop square (yellow):
    the aligned square when there is one."""
    out = np.ascontiguousarray(rgb.copy())
    height, width = rgb.shape[:2]
    thick = max(2, round(max(height, width) / 300))
    x, y, w, h = face
    cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (40, 220, 60), thick)
    if alignment is not None:
        corners = np.asarray(alignment.quad, np.float32)
    elif crop is not None:
        left, top, end = crop.left, crop.top, crop.side - 1
        corners = np.float32(
            [[left, top], [left + end, top], [left + end, top + end], [left, top + end]]
        )
    else:
        return out
    # the square's part inside the photo: where it runs past an edge, the edge is its outline
    frame = np.float32([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]])
    area, inside = cv2.intersectConvexConvex(corners, frame)
    if area > 0 and inside is not None:
        outline = np.rint(inside).astype(np.int32).reshape(1, -1, 2)
        cv2.polylines(out, outline, True, (250, 200, 30), max(1, thick // 2))
    return out


@dataclass
class Placement:
    """Where a model's crop lies in a photo: the face box, and either an axis-aligned square
    (`box`; models trained on box crops) or FFHQ's alignment square (`alignment`), with the
    face's mesh when the Landmarker read one."""

    face: FaceBox
    box: CropBox
    alignment: Alignment | None = None
    mesh: FaceMesh | None = None

    def crop(self, rgb: np.ndarray, resolution: int) -> np.ndarray:
        if self.alignment is not None:
            return self.alignment.crop(rgb, resolution)
        return crop_image(rgb, self.box, resolution)

    def paste(
        self, rgb: np.ndarray, crop: np.ndarray, edited: np.ndarray, feather: float
    ) -> np.ndarray:
        if self.alignment is not None:
            return self.alignment.paste(rgb, crop, edited, feather)
        return paste_back(rgb, crop, edited, self.box, feather)


@dataclass
class EditResult:
    """One edit: the photo before and after, where the face was, and what explains the edit."""

    photo: Photo  # the input as read (RGB, alpha, original mode)
    output: np.ndarray  # (H, W, 3) uint8: the photo with the edit pasted back
    face: FaceBox  # the face box (detected or given)
    box: CropBox  # the square crop the model saw
    crop: np.ndarray  # (R, R, 3) uint8 model input
    edited_crop: np.ndarray  # (R, R, 3) uint8 model output (intensity applied)
    explain: dict[str, np.ndarray] = field(default_factory=dict)  # name -> uint8 picture
    aus: np.ndarray | None = None  # target AUs (0..5) of AU models
    seconds: dict[str, float] = field(default_factory=dict)
    alignment: Alignment | None = None  # FFHQ's square, for models trained on FFHQ crops

    def annotated(self) -> np.ndarray:
        """The input photo with the face box and crop square drawn on it."""
        return draw_box(self.photo.rgb, self.face, self.box, self.alignment)

    def output_image(self) -> Image.Image:
        """The edited photo as PIL, in the input's kind (grayscale stays grayscale, alpha kept)."""
        return self.photo.to_pil(self.output)

    def save(self, path: str | Path, png_compression: int = 1) -> Path:
        """Write the edited photo (format from the suffix; PNG keeps alpha). PNGs are written
        with zlib level 1: 4x faster than PIL's default 6 for about 13% more bytes."""
        path = Path(path)
        image = self.output_image()
        if path.suffix.lower() in (".jpg", ".jpeg") and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        if path.suffix.lower() == ".png":
            image.save(path, compress_level=png_compression)
        else:
            image.save(path)
        return path


class EditPipeline:
    """An editor (and optionally a parser for part maps and an AU estimator) over photos."""

    def __init__(
        self,
        editor: torch.nn.Module,
        parser: torch.nn.Module | None = None,
        au_estimator: torch.nn.Module | None = None,
        *,
        name: str | None = None,
        scale: float = DEFAULT_SCALE,
        feather: float = 0.1,
        max_pixels: int = MAX_PIXELS,
        device: str | torch.device = "cpu",
        finder: FaceFinder | None = None,
    ):
        if getattr(editor, "role", None) != "editor":
            raise TypeError(
                f"{name or type(editor).__name__} is a {getattr(editor, 'role', '?')}, not an "
                "expression editor"
            )
        self.device = torch.device(device)
        self.editor = editor.to(self.device).eval()
        self.parser = None if parser is None else parser.to(self.device).eval()
        self.au_estimator = None if au_estimator is None else au_estimator.to(self.device).eval()
        self.name = name or getattr(editor, "architecture", type(editor).__name__)
        self.scale, self.feather, self.max_pixels = scale, feather, max_pixels
        self.resolution = int(getattr(editor, "image_size", 128))
        # how the faces the editor learnt from were cut: "box" or "ffhq" (see SeganModel)
        self.alignment = getattr(editor, "alignment", "box")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"{self.name}: unknown alignment {self.alignment!r}")
        self._finder = finder

    @classmethod
    def load(
        cls,
        editor: str | Path,
        parser: str | Path | None = "auto",
        au_estimator: str | Path | None = "auto",
        **kwargs,
    ) -> EditPipeline:
        """Open models by name: `bundled:NAME`, a Hub repo id or a local folder. "auto" takes
        the bundled parser / AU estimator where they are installed (None: go without)."""

        def pick(spec, bundled_names):
            if spec == "auto":
                there = [name for name in bundled_names if name in available()]
                return load(f"bundled:{there[0]}") if there else None
            return None if spec is None else load(spec)

        model = load(editor)
        kwargs.setdefault("name", str(editor).removeprefix("bundled:"))
        parsers = PART_MAP_PARSERS.get(getattr(model, "alignment", "box"), ())
        return cls(model, pick(parser, parsers), pick(au_estimator, ("regressor",)), **kwargs)

    # --- what the model wants ----------------------------------------------------------
    @property
    def kind(self) -> str:
        """ "label", "aus" or "relative_aus" (see segan.models.base.Editor)."""
        return self.editor.condition_kind

    @property
    def labels(self) -> tuple[str, ...]:
        """The expressions a label model knows (every expression for AU models)."""
        return tuple(getattr(self.editor, "labels", EXPRESSIONS))

    @property
    def uses_aus(self) -> bool:
        return self.kind in ("aus", "relative_aus")

    # --- steps -------------------------------------------------------------------------
    def read(self, image: str | Path | bytes | np.ndarray | Image.Image | Photo) -> Photo:
        """Any picture (path, bytes, PIL, uint8 array) as a Photo; ImageReadError otherwise."""
        if isinstance(image, Photo):
            check_pixels(*image.size, "<photo>", self.max_pixels)
            return image
        if isinstance(image, Image.Image):
            return photo_from_pil(image, max_pixels=self.max_pixels)
        if isinstance(image, np.ndarray):
            return photo_from_array(image, self.max_pixels)
        return read_photo(image, self.max_pixels)

    @property
    def finder(self) -> FaceFinder:
        """The face finder of FFHQ-aligned models (opened on first use)."""
        if self._finder is None:
            self._finder = FaceFinder.from_files(need=("landmarker",))
        return self._finder

    def place(
        self,
        photo: Photo,
        box: FaceBox | None = None,
        whole: bool = False,
        face: FaceBox | None = None,
    ) -> Placement:
        """Where the editor's crop lies: the whole picture's centre square when `whole` (a
        picture that is already a face crop); else around the face box given (`box` by hand,
        `face` found before) or the largest face found. Box models take a square around the
        box; FFHQ models take FFHQ's alignment square from the face's landmarks (NoFaceError
        when there is no face or no landmarks can be read)."""
        if whole:
            square = centre_square(*photo.size)
            return Placement((square.left, square.top, square.side, square.side), square)
        given = face if face is not None else box
        if self.alignment == "box":
            found = tuple(int(v) for v in find_face(photo.rgb, given))
            return Placement(found, square_box(found, self.scale))
        if given is None:
            located = self.finder.largest(photo.rgb)
        else:
            located = self.finder.at(photo.rgb, find_face(photo.rgb, given))
        aligned = located.alignment()
        found = tuple(round(v) for v in located.box)
        lo = np.floor(aligned.quad.min(0)).astype(int)
        side = int(np.ceil((aligned.quad.max(0) - lo).max()))
        return Placement(found, CropBox(int(lo[0]), int(lo[1]), side), aligned, located.mesh)

    def find(self, photo: Photo, box: FaceBox | None = None, whole: bool = False) -> FaceBox:
        """The face to edit (see `place`): its box."""
        return self.place(photo, box, whole).face

    def crop(self, photo: Photo, face: FaceBox, whole: bool = False) -> tuple[CropBox, np.ndarray]:
        """The crop square around a face box (the box itself when `whole`) and its pixels."""
        if whole:
            square = CropBox(face[0], face[1], face[2])
            return square, crop_image(photo.rgb, square, self.resolution)
        where = self.place(photo, face=face)
        return where.box, where.crop(photo.rgb, self.resolution)

    @torch.no_grad()
    def estimate_aus(self, crop: np.ndarray) -> np.ndarray | None:
        """The AU intensities (0..5) the AU estimator reads off a face crop (None without one)."""
        if self.au_estimator is None:
            return None
        x = to_tensor(crop)[None].to(self.device)
        size = int(getattr(self.au_estimator, "image_size", x.shape[-1]))
        if x.shape[-1] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear")
        values = self.au_estimator(x)[0].cpu().double().numpy()
        aus = np.zeros(len(AU_IDS))
        for value, au in zip(values, self.au_estimator.aus, strict=True):
            aus[au_index(au)] = value
        return np.clip(aus, 0.0, AU_MAX_INTENSITY)

    def target_aus(
        self, expression: str | None, intensity: float, aus: np.ndarray | Mapping | None
    ) -> np.ndarray:
        """The AU target of an AU model: `aus` when given, else the expression's preset, in
        the form the model's AU labels take (see the module docstring)."""
        if aus is not None:
            target = parse_aus(aus)
        elif expression is None:
            raise ValueError("give an expression or action units to edit towards")
        else:
            target = expression_preset(expression, intensity)
        if DATA_AU_LABELS.get(getattr(self.editor, "trained_on", None)) == "blendshapes":
            target = as_blendshape_aus(target)
        return target

    def condition(
        self,
        crop: np.ndarray,
        expression: str | None = None,
        intensity: float = 1.0,
        aus: np.ndarray | Mapping | None = None,
        source: np.ndarray | None = None,
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        """The editor's condition (1, C) for this crop, and the target AUs of AU models.
        `source` is the face's own AUs when known (read off the Landmarker's blendshapes);
        otherwise the AU estimator reads them off the crop."""
        _check_intensity(intensity)
        if self.kind == "label":
            if expression is None:
                raise ValueError(f"{self.name} edits towards an expression; give one")
            name = EXPRESSIONS[_expression_index(expression)]
            if name not in self.labels:
                raise ValueError(f"{self.name} knows {', '.join(self.labels)}, not {name!r}")
            c = torch.zeros(1, len(self.labels))
            c[0, self.labels.index(name)] = 1.0
            return c.to(self.device), None
        target = self.target_aus(expression, intensity, aus)
        if self.kind == "aus":
            c = target
        elif self.kind == "relative_aus":
            source = self.estimate_aus(crop) if source is None else source
            c = target - (0.0 if source is None else source)
        else:
            raise ValueError(f"{self.name}: unknown condition kind {self.kind!r}")
        order = [au_index(int(a)) for a in getattr(self.editor, "aus", AU_IDS)]  # editor's AUs
        c = torch.tensor(c[order] / AU_MAX_INTENSITY, dtype=torch.float32)[None]
        return c.to(self.device), target

    @torch.no_grad()
    def edit_crop(
        self, crop: np.ndarray, condition: torch.Tensor, intensity: float = 1.0
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Edit a (R, R, 3) uint8 crop; returns the edited crop and the explanation pictures."""
        x = to_tensor(crop)[None].to(self.device)
        # boxhgan places its boxes from the mean SynthFaces landmarks (photos have none)
        out = self.editor.explain(x, condition)
        edited = out.image
        if self.kind == "label" and intensity != 1.0:
            edited = (x + intensity * (edited - x)).clamp(-1, 1)
        return to_uint8(edited)[0], self._explanations(x, out)

    def edit(
        self,
        image: str | Path | bytes | np.ndarray | Image.Image | Photo,
        expression: str | None = None,
        intensity: float = 1.0,
        aus: np.ndarray | Mapping | None = None,
        box: FaceBox | None = None,
        face: FaceBox | None = None,
        whole: bool = False,
    ) -> EditResult:
        """Edit the face of a photo towards `expression` (at `intensity`) or towards `aus`.

        `box` is a face box given by hand; `face` a box already found (skips detection);
        `whole` treats the picture as a face crop already (no detection)."""
        times = {}
        t0 = time.perf_counter()
        photo = self.read(image)
        times["read"] = time.perf_counter() - t0
        t = time.perf_counter()
        if whole and face is not None:
            where = Placement(face, CropBox(face[0], face[1], face[2]))
        else:
            where = self.place(photo, box, whole, face)
        times["detect"] = time.perf_counter() - t
        t = time.perf_counter()
        crop = where.crop(photo.rgb, self.resolution)
        source = None if where.mesh is None else aus_from_blendshapes(where.mesh.blendshapes)
        condition, target = self.condition(crop, expression, intensity, aus, source)
        edited, explain = self.edit_crop(crop, condition, intensity)
        times["edit"] = time.perf_counter() - t
        t = time.perf_counter()
        output = where.paste(photo.rgb, crop, edited, self.feather)
        times["paste"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        return EditResult(
            photo, output, where.face, where.box, crop, edited, explain, target, times,
            where.alignment,
        )  # fmt: skip

    # --- explanations ------------------------------------------------------------------
    @torch.no_grad()
    def _explanations(self, x: torch.Tensor, out) -> dict[str, np.ndarray]:
        pictures: dict[str, np.ndarray] = {}
        logits = out.parser_logits
        if logits is None and self.parser is not None:
            logits = self.parser(x)
        if logits is not None:
            parts = logits.argmax(1)[0].cpu()
            pictures["part map"] = _enlarge(colorize_mask(parts))
        if out.region_masks is not None:
            masks = out.region_masks[0].clamp(0, 1).cpu().numpy()
            for name, mask in zip(out.region_names, masks, strict=False):
                pictures[f"region: {name}"] = _enlarge(np.rint(mask * 255).astype(np.uint8))
        if out.attention is not None:
            edit_weight = 1.0 - out.attention[0, 0].clamp(0, 1).cpu().numpy()
            heat = cv2.applyColorMap(
                np.rint(edit_weight * 255).astype(np.uint8), cv2.COLORMAP_INFERNO
            )
            pictures["attention (bright = edited)"] = _enlarge(heat[..., ::-1].copy())
        if out.color is not None:
            pictures["colour map"] = _enlarge(to_uint8(out.color)[0])
        if out.boxes is not None:
            picture = to_uint8(x)[0].copy()
            for x0, y0, x1, y1 in out.boxes[0].round().int().tolist():
                cv2.rectangle(picture, (x0, y0), (x1 - 1, y1 - 1), (250, 200, 30), 1)
            pictures["local boxes"] = _enlarge(picture)
        return pictures


def compare(
    pipelines: Mapping[str, EditPipeline],
    image: str | Path | bytes | np.ndarray | Image.Image | Photo,
    expression: str,
    intensity: float = 1.0,
    box: FaceBox | None = None,
    whole: bool = False,
) -> tuple[Photo, FaceBox, dict[str, EditResult]]:
    """Edit one face with several pipelines (found once; each crops at its own resolution).
    A model that cannot make this edit (an expression it does not know) is left out."""
    if not pipelines:
        raise ValueError("no models to compare")
    first = next(iter(pipelines.values()))
    photo = first.read(image)
    face = first.find(photo, box, whole)
    results = {}
    for name, pipe in pipelines.items():
        if pipe.kind == "label" and EXPRESSIONS[_expression_index(expression)] not in pipe.labels:
            continue
        results[name] = pipe.edit(photo, expression, intensity, face=face, whole=whole)
    return photo, face, results
