"""`segan eval`: score a model on held-out faces and write JSON + a markdown table.

An editor edits every test face to every other expression it knows (label models) or to the
target's action units (AU models) and is scored on: realism (FID/KID of the edits against real
faces), expression accuracy (an evaluator classifier), AU error (an evaluator regressor against
the target AUs), fidelity to the true edited face (PSNR, SSIM, L1; SynthFaces only), identity
(an optional face embedding), and leakage (change outside the parts the edit should touch:
exact regions on SynthFaces, a parser's masks on real data; on SynthFaces also the true edit's
change inside and outside the same regions, the scale to read an editor's against). A parser
is scored by per-class IoU/F1 from one confusion matrix. Results are keyed by model, dataset,
resolution and sample count; a metric that needs something absent is reported unavailable with
the fix. Editors on real faces, edited through the app's pipeline and scored by the judges nobody
here trained, are `segan.evaluate_real`'s.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from segan.data.cache import PreparedFaces
from segan.labels import AU_IDS, AU_MAX_INTENSITY, EXPRESSIONS, NUM_EXPRESSIONS, expression_aus
from segan.metrics.expression import au_error
from segan.metrics.fidelity import identity_distance, psnr, ssim
from segan.metrics.leakage import leakage, region_from_parts
from segan.metrics.realism import fid_kid, uint8_chw
from segan.metrics.segmentation import UNKNOWN, confusion, scores
from segan.metrics.unavailable import unavailable
from segan.partial_labels import mark_outside, outside_scores
from segan.synth.dataset import AU_ZONES, SynthFaces, au_region

__all__ = [
    "DEFAULT_EVALUATORS",
    "EXPRESSION_PARTS",
    "EvalData",
    "apply_edit",
    "edit_condition",
    "evaluate",
    "evaluate_editor",
    "evaluate_parser",
    "markdown",
    "real_target_aus",
    "write_results",
]

# Face parts each anatomical zone lies on, for leakage on real data (parser masks).
# The evaluators an editor is scored with unless others are named: bundled name -> model spec.
DEFAULT_EVALUATORS: dict[str, str] = {
    "classifier": "bundled:classifier",
    "regressor": "bundled:regressor",
}

_ZONE_PARTS = {
    "brows": ("l_brow", "r_brow"),
    "forehead": ("skin",),
    "eyes": ("l_eye", "r_eye", "eye_g"),
    "nose": ("nose",),
    "cheeks": ("skin",),
    "mouth": ("mouth", "u_lip", "l_lip"),
    "chin": ("skin",),
    "jaw": ("skin", "mouth", "u_lip", "l_lip"),
}


def _expression_parts(expression: int) -> tuple[str, ...]:
    aus = expression_aus(expression, AU_MAX_INTENSITY)
    parts: list[str] = []
    for au, value in zip(AU_IDS, aus, strict=True):
        if value > 0:
            for zone in AU_ZONES[au]:
                parts += [p for p in _ZONE_PARTS[zone] if p not in parts]
    return tuple(parts)


# The parts an edit between two expressions may change: those either expression moves.
EXPRESSION_PARTS: dict[str, tuple[str, ...]] = {
    name: _expression_parts(k) for k, name in enumerate(EXPRESSIONS)
}


@dataclass
class EvalData:
    """Which faces to score: SynthFaces test identities, or a folder `segan prepare` wrote."""

    dataset: str = "synthfaces"
    path: str | None = None
    n: int = 128
    resolution: int = 128
    batch_size: int = 32
    seed: int = 0
    skin_tones: tuple[float, float] | None = None  # SynthFaces: only people of these tones

    def key(self) -> str:
        tones = "" if self.skin_tones is None else "_tones{:g}-{:g}".format(*self.skin_tones)
        return f"{self.dataset}{tones}_{self.resolution}px_n{self.n}"

    def synthfaces(self) -> SynthFaces:
        """The SynthFaces test set these settings describe."""
        return SynthFaces(
            "test", self.n, self.resolution, seed=self.seed, skin_tones=self.skin_tones
        )

    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of source faces (SynthFaces batches also carry `identity` for true edits)."""
        if self.dataset == "synthfaces":
            ds = self.synthfaces()
            for s in range(0, self.n, self.batch_size):
                idx = list(range(s, min(s + self.batch_size, self.n)))
                yield {**ds.batch(idx), "index": torch.tensor(idx)}
            return

        if self.path is None:
            raise ValueError(f"{self.dataset}: give the folder `segan prepare` wrote (--path)")
        ds = PreparedFaces(self.path)
        if ds.resolution != self.resolution:
            raise ValueError(
                f"{self.path} was prepared at {ds.resolution} px, not {self.resolution}"
            )
        n = min(self.n, len(ds))
        for s in range(0, n, self.batch_size):
            yield ds.batch(range(s, min(s + self.batch_size, n)))


def edit_condition(editor, source: dict, target: torch.Tensor, target_aus: torch.Tensor | None):
    """The editor's condition for editing `source` to `target` (None where it cannot)."""
    kind = editor.condition_kind
    if kind == "label":
        names = list(editor.labels)
        wanted = [EXPRESSIONS[int(t)] for t in target]
        known = torch.tensor([w in names for w in wanted])
        index = torch.tensor([names.index(w) if w in names else 0 for w in wanted])
        return F.one_hot(index, len(names)).float(), known
    if target_aus is None:
        return None, torch.zeros(len(target), dtype=torch.bool)
    if kind == "aus":
        return target_aus / AU_MAX_INTENSITY, torch.ones(len(target), dtype=torch.bool)
    if kind == "relative_aus":
        return (target_aus - source["aus"]) / AU_MAX_INTENSITY, torch.ones(
            len(target), dtype=torch.bool
        )
    raise ValueError(f"unknown condition kind {kind!r}")


def apply_edit(editor, images: torch.Tensor, condition: torch.Tensor, batch: dict) -> torch.Tensor:
    if getattr(editor, "needs_landmarks", False) and "landmarks" in batch:
        return editor(images, condition, batch["landmarks"])
    return editor(images, condition)


def real_target_aus(source: dict, target: torch.Tensor) -> torch.Tensor | None:
    """On real data an AU editor is asked for the target expression's prototype AUs at the
    source's intensity (its summed AUs), or at intensity 3 when the source has no AUs."""
    if "aus" not in source:
        return expression_aus(target, 3.0)
    intensity = source["aus"].max(1).values.clamp(1.0, AU_MAX_INTENSITY)
    return expression_aus(target, intensity)


class _Mean:
    """Weighted running means of metric dicts (each batch's means weighted by its size)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, values: dict[str, Any], n: int) -> None:
        for key, value in values.items():
            if isinstance(value, int | float):
                self.sums[key] += float(value) * n
                self.counts[key] += n

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


@torch.no_grad()
def evaluate_editor(
    editor,
    data: EvalData,
    classifier=None,
    regressor=None,
    parser=None,
    embed: Callable[[torch.Tensor], torch.Tensor] | None = None,
    fid: dict[str, Any] | None = None,
    skip_fid: bool = False,
) -> dict[str, Any]:
    """Scores of an editor's edits of `data.n` faces to every other expression. `fid` holds
    keyword arguments for `fid_kid` (feature extractor, weights path, ...)."""
    synth = data.dataset == "synthfaces"
    truths = data.synthfaces() if synth else None  # renders the true edits
    means = _Mean()
    hits = defaultdict(lambda: [0, 0])  # target name -> [hits, edits]
    real_images, fake_images = [], []
    unavailable_metrics: dict[str, Any] = {}
    n_edits = 0
    for batch in data.batches():
        for shift in range(1, NUM_EXPRESSIONS):
            target = (batch["expression"] + shift) % NUM_EXPRESSIONS
            truth = truths.pair(batch["index"].tolist(), target) if truths else None
            target_aus = truth["target_aus"] if synth else real_target_aus(batch, target)
            condition, ok = edit_condition(editor, batch, target, target_aus)
            if condition is None or not ok.any():
                continue
            sel = ok.nonzero()[:, 0]
            source = {k: v[sel] for k, v in batch.items()}
            edits = apply_edit(editor, source["image"], condition[sel], source).clamp(-1, 1)
            k = len(sel)
            n_edits += k
            fake_images.append(uint8_chw(edits))
            if synth:
                true = truth["edited"][sel]
                real_images.append(uint8_chw(true))
                means.add({**psnr(edits, true), **ssim(edits, true)}, k)
                means.add({"l1": float((edits - true).abs().mean() / 2)}, k)
                region = au_region(
                    source["identity"], source["aus"], target_aus[sel], data.resolution, 1
                )
                means.add(leakage(source["image"], edits, region), k)
                # what a perfect edit changes, inside and outside the same regions: the
                # scale against which an editor's change_inside reads as weak or exaggerated
                perfect = leakage(source["image"], true, region)
                means.add(
                    {
                        "true_change_inside": perfect["change_inside"],
                        "true_leakage": perfect["leakage"],
                    },
                    k,
                )
            else:
                real_images.append(uint8_chw(source["image"]))
                if parser is not None:
                    masks = parser(source["image"]).argmax(1)
                    region = torch.stack(
                        [
                            region_from_parts(
                                masks[j : j + 1],
                                set(EXPRESSION_PARTS[EXPRESSIONS[int(source["expression"][j])]])
                                | set(EXPRESSION_PARTS[EXPRESSIONS[int(target[sel][j])]]),
                                dilate_px=max(1, data.resolution // 64),
                            )[0]
                            for j in range(k)
                        ]
                    )
                    means.add(leakage(source["image"], edits, region), k)
            if classifier is not None:
                pred = classifier(edits).argmax(1)
                names = list(classifier.labels)
                for j in range(k):
                    name = EXPRESSIONS[int(target[sel][j])]
                    hits[name][1] += 1
                    hits[name][0] += int(name in names and int(pred[j]) == names.index(name))
            if regressor is not None and target_aus is not None:
                means.add({"au_mae": au_error(regressor(edits), target_aus[sel])["mae"]}, k)
            if embed is not None:
                means.add(identity_distance(source["image"], edits, embed), k)
    if n_edits == 0:
        raise ValueError("the editor could not be asked for any of the targets")
    metrics: dict[str, Any] = means.means()
    if classifier is not None:
        total = sum(h for h, _ in hits.values()), sum(c for _, c in hits.values())
        metrics["expression_accuracy"] = 100 * total[0] / total[1]
        metrics["expression_accuracy_per_target"] = {
            name: 100 * h / c for name, (h, c) in hits.items()
        }
    else:
        unavailable_metrics["expression_accuracy"] = unavailable(
            "no evaluator classifier", "pass --classifier MODEL (an expression-classifier)"
        )
    if regressor is None:
        unavailable_metrics["au_mae"] = unavailable(
            "no evaluator regressor", "pass --regressor MODEL (an au-regressor)"
        )
    if embed is None:
        unavailable_metrics["identity_distance"] = unavailable(
            "no face-embedding model", "pass embed=<images -> (N, D) embeddings> (Python API)"
        )
    if not synth:
        unavailable_metrics["psnr_ssim_l1"] = unavailable(
            "real data has no true edited face", "use dataset synthfaces for fidelity scores"
        )
        if parser is None:
            unavailable_metrics["leakage"] = unavailable(
                "no parser for the parts on real data", "pass --parser MODEL (bisenet or unet)"
            )
    if skip_fid:
        realism = unavailable("FID/KID were not asked for", "leave out --no-fid")
    else:
        realism = fid_kid(torch.cat(real_images), torch.cat(fake_images), **(fid or {}))
    if realism.get("available", True):
        metrics.update({k: v for k, v in realism.items() if k in ("fid", "kid_x1000")})
        metrics["fid_feature_extractor"] = realism["feature_extractor"]
    else:
        unavailable_metrics["fid_kid"] = realism
    return {"n_edits": n_edits, "metrics": metrics, "unavailable": unavailable_metrics}


@torch.no_grad()
def evaluate_parser(parser, data: EvalData) -> dict[str, Any]:
    """Per-class IoU/F1, mean IoU and pixel accuracy of a parser on faces with masks. Masks
    with unknown pixels (mesh masks of real faces) are scored on their known pixels and over
    the classes they name, and on what their partial labels rule out (`segan.partial_labels`):
    the % of pixels outside the face read as an inner part, and of frame pixels read as skin."""
    matrix = None
    partial = False
    broken: dict[str, list[int]] = {}
    for batch in data.batches():
        if "mask" not in batch:
            raise ValueError(f"{data.dataset} has no masks to score a parser against")
        pred = parser(batch["image"]).argmax(1)
        if bool((batch["mask"] == UNKNOWN).any()):
            partial = True
            counts = outside_scores(pred, mark_outside(batch["mask"].to(pred.device)))
            for key, (bad, total) in counts.items():
                broken.setdefault(key, [0, 0])
                broken[key][0] += bad
                broken[key][1] += total
        m = confusion(pred, batch["mask"])
        matrix = m if matrix is None else matrix + m
    assert matrix is not None
    result = scores(matrix, labelled_only=partial)
    result["scored_classes"] = "labelled in the masks" if partial else "all present"
    for key, (bad, total) in broken.items():
        result[key] = 100 * bad / total if total else float("nan")
    return {"metrics": result, "unavailable": {}}


def evaluate(model, data: EvalData, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Scores of any segan model (editor or parser) on `data`, with the run's key fields;
    `kwargs` go to `evaluate_editor` (evaluators, parser, embed, fid, skip_fid)."""
    if model.role == "parser":
        body = evaluate_parser(model, data)
    elif model.role == "editor":
        body = evaluate_editor(model, data, **kwargs)
    else:
        raise ValueError(f"segan eval scores editors and parsers, not a {model.role}")
    return {
        "model": name or model.architecture,
        "architecture": model.architecture,
        "dataset": data.dataset,
        "resolution": data.resolution,
        "n_faces": data.n,
        "key": data.key(),
        **body,
    }


# counts a real-face result carries beside its metrics (segan.evaluate_real)
_COUNTS = (
    "faces_edited",
    "no_face",
    "edits_failed",
    "unjudged_contempt",
    "judged_edits",
    "identity_pairs",
    "duplicates_left_out",
)


def _table(metrics: dict[str, Any], missing: dict[str, Any]) -> list[str]:
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                lines.append(f"| {key} / {sub} | {v:.4g} |")
        elif isinstance(value, float):
            lines.append(f"| {key} | {value:.4g} |")
        else:
            lines.append(f"| {key} | {value} |")
    for key, why in missing.items():
        lines.append(f"| {key} | unavailable: {why['reason']} (fix: {why['fix']}) |")
    return lines


def _counts(result: dict[str, Any]) -> list[str]:
    counts = [f"{k.replace('_', ' ')}: {result[k]}" for k in _COUNTS if k in result]
    return ["; ".join(counts), ""] if counts else []


def markdown(result: dict[str, Any]) -> str:
    """A table of a result's numbers, then what could not be computed and why (and, for real
    faces, the judges used and the registry photos' table)."""
    lines = [
        f"**{result['model']}** ({result['architecture']}) on {result['dataset']}, "
        f"{result['resolution']} px, {result['n_faces']} faces"
        + (f", {result['n_edits']} edits" if "n_edits" in result else ""),
        "",
        *_counts(result),
    ]
    if result.get("judges"):
        lines += [f"- {k} judge: {v}" for k, v in result["judges"].items()] + [""]
    lines += _table(result["metrics"], result["unavailable"])
    photos = result.get("photos")
    if photos:
        lines += [
            "",
            f"Registry photos in {photos['folder']}: {photos['photos_edited']} of "
            f"{photos['photos']} photos edited, {photos['n_edits']} edits (a judge found no "
            f"face in {photos['unread']['expression']} edits for the expression judge, "
            f"{photos['unread']['identity']} for the identity judge)",
            "",
            *_counts(photos),
            *_table(photos["metrics"], photos["unavailable"]),
        ]
    return "\n".join(lines) + "\n"


def write_results(result: dict[str, Any], out_dir: str | Path, name: str) -> tuple[Path, Path]:
    """`{name}_{key}.json` and `.md` in `out_dir` (other characters than letters, digits,
    `.`, `_` and `-` become `-`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # a model named `bundled:stargan` or `user/repo`: only characters every file system takes
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{name}_{result['key']}")
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return json_path, md_path
