"""Quality of every bundled model on held-out SynthFaces identities, and the papers' claims.

Usage: python benchmarks/quality.py [--faces 150] [--models NAME ...] [--readme] [--cards]
       [--inception-weights FILE] [--out benchmarks/results]
       [--real runs/prep/ffhq-test-128 [--photos runs/real_photos]]

Every bundled editor edits `--faces` test faces (identities never seen in training) to each of
the 7 other expressions (7 x faces edits, every one of the 8 expressions a target) and is scored
by `segan.evaluate.evaluate_editor`: target-expression accuracy (the bundled classifier), AU
error of the edit (the bundled regressor against the true target's AUs), PSNR/SSIM/L1 against
the true edited face SynthFaces renders, leakage (mean change outside the regions the two
expressions move, in grey levels), FID/KID when torch-fidelity's Inception weights are on the
machine. AU editors also make single-AU edits (one AU switched on or off, the rest kept).
Parsers, alone and inside seghgan, get mIoU/F1; the evaluators get their own held-out scores.
Writes quality.json + quality.md; `--readme` puts the tables into README.md between markers,
`--cards` into each bundled model card. `--model NAME=FOLDER` scores another folder (a run's
model or `runs/bundled/NAME` for its latest checkpoint) in place of the bundled one.

`--real PREPARED` (a folder `segan prepare ffhq ... --split test` wrote, with part masks) makes
the real-face table instead: every bundled editor edits `--faces` held-out FFHQ faces to the 7
other expressions through `EditPipeline`, as the app edits a photo, and then the registry photos
in `--photos` (benchmarks/real_photos.py gathers them), scored by `segan.evaluate_real` with the
judges nobody here trained; it writes quality_real.json + quality_real.md, and `--readme` puts
the table into README.md between the real-face markers, right after the SynthFaces table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

import segan
from segan import bundled
from segan.data.ffhq import HELD_OUT
from segan.evaluate import (
    DEFAULT_EVALUATORS,
    EvalData,
    apply_edit,
    edit_condition,
    evaluate_editor,
    evaluate_parser,
)
from segan.evaluate_real import Judges, evaluate_photos, evaluate_real
from segan.labels import AU_IDS, EXPRESSIONS, PRESET_AU_INTENSITY
from segan.models.base import Parser
from segan.models.hub import read_config
from segan.photos.parts import MESH_PARTS
from segan.synth.dataset import SynthFaces
from segan.train.bundle import CARD_END, CARD_START, STASH_DIR, snapshot
from segan.train.config import load_config
from segan.train.recipes import RECIPES, earlier_stages

EVALUATORS = tuple(DEFAULT_EVALUATORS)  # the bundled models that score the others
CONTROL = " (continued alone)"  # the parser fine-tuned alone like the joint one (the control)
CONTROL_TEXT = "continued alone for as many updates"
ACCURACY_BAR = {"default": 80.0, "seghgan-bisenet": 90.0, "seghgan-unet": 90.0}
README_START, README_END = "<!-- quality-table:start -->", "<!-- quality-table:end -->"
REAL_START, REAL_END = "<!-- real-face-table:start -->", "<!-- real-face-table:end -->"
REAL_PHOTOS = Path("runs/real_photos")
SHOWN_PHOTOS = {"scikit-image/astronaut.png": "astronaut", "matplotlib/grace_hopper.jpg": "Hopper"}


def open_model(name: str, folders: dict[str, str]) -> tuple[Any, int | str | None]:
    """A bundled model, or the folder given for it (a model folder, or a run: its latest
    checkpoint), and the training steps it has had ("30000+12000" after an earlier stage)."""
    folder = Path(folders[name]) if name in folders else bundled.resolve(f"bundled:{name}")
    if (folder / "checkpoints").is_dir():  # a run of the recipe
        model, steps = snapshot(folder)
        before = list(earlier_stages(name).values()) if name in RECIPES else []
    else:  # a published folder says what it continued
        made = read_config(folder).get("training", {})
        model, steps = segan.load(str(folder)).eval(), made.get("steps")
        before = list(made.get("after", {}).values())
    if before and steps is not None:
        steps = "+".join(str(n) for n in [*before, steps])
    return model, steps


def open_control(arch: str, steps: Any, folders: dict[str, str]) -> tuple[Any, str] | None:
    """The parser `arch` trained on alone for as many updates as seghgan's joint parser
    (recipe ARCH-continued, exported to checkpoints/), with its steps, if it is there."""
    name = f"{arch}-continued"
    folder = Path(folders[name]) if name in folders else STASH_DIR / name
    if not (folder / "config.json").is_file():
        return None
    made = read_config(folder).get("training", {})  # what the export did
    own = made.get("steps", RECIPES[name].steps)  # (older exports: the recipe's)
    done = "+".join(str(n) for n in (steps, own) if n is not None)
    return segan.load(str(folder)).eval(), done


def parser_setup(parser: torch.nn.Module) -> dict[str, Any]:
    """What makes two parsers comparable: the architecture and its constructor settings."""
    config = dict(getattr(parser, "config", {}))
    config.pop("labels", None)
    return config


def editor_setup(editor: torch.nn.Module) -> dict[str, Any]:
    """What makes two hierarchies comparable beyond masks vs boxes: their branches' outputs."""
    config = getattr(editor, "config", {})
    return {k: bool(config[k]) for k in ("global_attention", "local_attention") if k in config}


def setup_difference(
    a: dict[str, Any] | None, b: dict[str, Any] | None, names: tuple[str, str] = ("joint", "alone")
) -> str:
    """'' when two setups agree, else what differs (e.g. a seghgan trained from an earlier
    recipe's parser, or hierarchies with different branch outputs)."""
    if a is None or b is None:
        return ""
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(f"{k} {a.get(k)} ({names[0]}) vs {b.get(k)} ({names[1]})" for k in keys)


class AtResolution(torch.nn.Module):
    """An evaluator that takes pictures at any size (resized to the size it was trained at)."""

    def __init__(self, model: torch.nn.Module, size: int):
        super().__init__()
        self.model, self.size, self.labels = model, size, getattr(model, "labels", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return self.model(x)


class ParsedAt(torch.nn.Module):
    """A parser that takes pictures at any size: parsed at the size it was trained at, its
    logits resized back."""

    def __init__(self, parser: torch.nn.Module, size: int):
        super().__init__()
        self.parser, self.size = parser, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size:
            return self.parser(x)
        small = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return F.interpolate(self.parser(small), size=x.shape[-2:], mode="bilinear")


def trained_size(name: str, folders: dict[str, str]) -> int:
    """The face size a model was trained at, as its folder (or its run's config) records it;
    for a folder saved without that record, the size the model takes (`image_size`, or a
    parser's `resolution`)."""
    folder = Path(folders[name]) if name in folders else bundled.resolve(f"bundled:{name}")
    if (folder / "checkpoints").is_dir():  # a run of the recipe
        return load_config(str(folder / "config.yaml")).data.resolution
    config = read_config(folder)  # a published folder records it; else the model's own size
    size = config.get("training", {}).get("resolution")
    return int(size or config.get("image_size") or config["resolution"])


def started_from(name: str) -> str | None:
    """The bundled parser a recipe's joint parser starts from (its `model.parser_weights`)."""
    spec = RECIPES[name].option("model.parser_weights") if name in RECIPES else None
    return spec.removeprefix("bundled:") if spec else None


@torch.no_grad()
def evaluator_scores(classifier, regressor, n: int, resolution: int) -> dict[str, Any]:
    """The evaluators on n held-out renders: classifier accuracy (overall, per class, and the
    confusion), regressor mean absolute AU error (0..5 scale)."""
    ds = SynthFaces("test", n, resolution, seed=1)
    hits, total = torch.zeros(len(EXPRESSIONS)), torch.zeros(len(EXPRESSIONS))
    confusion = torch.zeros(len(EXPRESSIONS), len(EXPRESSIONS), dtype=torch.int64)
    errors = []
    for s in range(0, n, 100):
        b = ds.batch(range(s, min(s + 100, n)))
        pred = classifier(b["image"]).argmax(1)
        for t, p in zip(b["expression"].tolist(), pred.tolist(), strict=True):
            confusion[t, p] += 1
            total[t] += 1
            hits[t] += int(t == p)
        errors.append(regressor(b["image"]) - b["aus"])
    err = torch.cat(errors).abs()
    return {
        "n": n,
        "classifier_accuracy": 100 * float(hits.sum() / total.sum()),
        "classifier_accuracy_per_class": {
            e: 100 * float(hits[k] / total[k]) for k, e in enumerate(EXPRESSIONS)
        },
        "classifier_confusion": confusion.tolist(),
        "regressor_au_mae": float(err.mean()),
        "regressor_au_mae_per_au": {
            f"AU{a}": float(v) for a, v in zip(AU_IDS, err.mean(0), strict=True)
        },
    }


def single_au_targets(
    aus: torch.Tensor, which: torch.Tensor, on: float = PRESET_AU_INTENSITY
) -> torch.Tensor:
    """The source AUs with AU `which` (one index per face) switched: off (0) where it is at
    least 1.5, else on at `on`; the other 16 unchanged."""
    target = aus.clone()
    rows = torch.arange(len(aus))
    current = aus[rows, which]
    target[rows, which] = torch.where(current >= 1.5, torch.zeros_like(current), on)
    return target


@torch.no_grad()
def single_au_scores(
    editor: Any, regressor: Any, faces: int, size: int, per_face: int = 7
) -> dict[str, Any]:
    """Single-AU edits of `faces` test faces at `size` px (`per_face` each, AUs in turn): the
    regressor's error against the target AUs (all 17, the switched one, the 16 kept), against
    the true single-AU render (the evaluator's floor), and PSNR to that render. `editor=None`
    scores the input left unedited: what the 17-AU error gives an editor that does nothing."""
    ds = SynthFaces("test", faces, size)
    terms: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("all", "switched", "kept", "floor", "psnr")
    }
    for s in range(0, faces, 32):
        idx = list(range(s, min(s + 32, faces)))
        source = ds.labels(idx)["aus"]
        for j in range(per_face):
            which = (torch.tensor(idx) * per_face + j) % len(AU_IDS)
            pair = ds.pair(idx, single_au_targets(source, which))
            if editor is None:
                edits = pair["image"]
            else:
                condition, _ = edit_condition(editor, pair, pair["expression"], pair["target_aus"])
                edits = apply_edit(editor, pair["image"], condition, pair).clamp(-1, 1)
            pred, floor = regressor(edits), regressor(pair["edited"])
            error = (pred - pair["target_aus"]).abs()
            switched = F.one_hot(which, len(AU_IDS)).bool()
            terms["all"].append(error.mean(1))
            terms["switched"].append(error[switched])
            terms["kept"].append(error[~switched].view(len(idx), -1).mean(1))
            terms["floor"].append((floor - pair["target_aus"]).abs().mean(1))
            mse = ((edits - pair["edited"]) / 2).pow(2).mean((1, 2, 3)).clamp(min=1e-10)
            terms["psnr"].append(-10 * torch.log10(mse))
    mean = {k: float(torch.cat(v).mean()) for k, v in terms.items()}
    return {
        "n_edits": len(torch.cat(terms["all"])),
        "au_mae_all": mean["all"],
        "au_error_switched": mean["switched"],
        "au_mae_kept": mean["kept"],
        "au_mae_true_render": mean["floor"],
        "psnr": mean["psnr"],
    }


def claims(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The bundled models' quality bars and the first paper's claims, each with the figures
    and a verdict."""
    out: list[dict[str, Any]] = []
    ev = results.get("evaluators")
    editors = results["editors"]
    parsers = results["parsers"]

    def claim(text: str, figures: str, ok: bool | None) -> None:
        verdict = "not measured" if ok is None else ("holds" if ok else "does not hold")
        out.append({"claim": text, "figures": figures, "verdict": verdict})

    if ev:
        acc = ev["classifier_accuracy"]
        claim("evaluator classifier >= 98% on held-out renders", f"{acc:.1f}%", acc >= 98)
    for name, r in editors.items():
        bar = ACCURACY_BAR.get(name, ACCURACY_BAR["default"])
        acc = r["metrics"].get("expression_accuracy")
        claim(
            f"{name}: target-expression accuracy >= {bar:g}%",
            "-" if acc is None else f"{acc:.1f}%",
            None if acc is None else acc >= bar,
        )
    for seg in ("seghgan-bisenet", "seghgan-unet"):
        if seg not in editors:
            continue
        # the two hierarchies are compared only when their branches' outputs agree
        box = editors.get("boxhgan", {}).get("setup")
        unlike = {"boxhgan": setup_difference(editors[seg].get("setup"), box, (seg, "boxhgan"))}
        for key, what in (("leakage", "leakage"), ("l1", "L1 to the true target")):
            for base in ("stargan", "boxhgan"):
                text = f"{seg} {what} lower than {base}'s"
                if base not in editors:
                    claim(text, f"{base} not bundled", None)
                    continue
                if unlike.get(base):
                    claim(text, f"not comparable: {unlike[base]}", None)
                    continue
                a, b = editors[seg]["metrics"][key], editors[base]["metrics"][key]
                claim(text, f"{a:.3g} vs {b:.3g}", a < b)
    for joint in parsers.values():
        arch = joint.get("started_from")
        if arch is None:
            continue
        for key, what in ((arch, "it started from"), (f"{arch}{CONTROL}", CONTROL_TEXT)):
            if key not in parsers:
                continue
            text = f"jointly trained {arch} mIoU not below the {arch} trained alone ({what})"
            differ = setup_difference(joint.get("setup"), parsers[key].get("setup"))
            if differ:  # a joint run from an earlier recipe's parser: not like for like
                claim(text, f"not comparable: {differ}", None)
                continue
            a, b = joint["miou"], parsers[key]["miou"]
            claim(text, f"{a:.1f} vs {b:.1f}", a >= b)
    single = results.get("single_au", {})
    if "finegrained" in single and "ganimation" in single:
        # judged on the switched AU, the edit itself: the 17-AU mean rewards an editor that
        # does nothing (the table's "unedited" row shows it); the kept AUs' error beside it
        text = "finegrained single-AU edits: error on the switched AU below ganimation's"
        steps = [editors.get(n, {}).get("steps") for n in ("finegrained", "ganimation")]
        # compared only when the baseline trained at least as long (a longer-trained
        # finegrained, or an unfinished ganimation, would favour the claim)
        if steps[0] != steps[1] and (None in steps or steps[0] > steps[1]):
            claim(text, f"not comparable: {steps[0]} vs {steps[1]} training steps", None)
        else:
            fg, ga = single["finegrained"], single["ganimation"]
            a, b = fg["au_error_switched"], ga["au_error_switched"]
            kept = f"the 16 kept AUs: {fg['au_mae_kept']:.3f} vs {ga['au_mae_kept']:.3f}"
            if steps[0] != steps[1]:
                kept += f"; {steps[0]} vs {steps[1]} training steps"
            claim(text, f"{a:.3f} vs {b:.3f} ({kept})", a < b)
    return out


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _truth_change(results: dict[str, Any]) -> str:
    """The true edits' own change inside and outside the regions, where it was measured."""
    metrics = [r["metrics"] for r in results["editors"].values()]
    m = next((m for m in metrics if "true_change_inside" in m), None)
    if m is None:
        return ""
    inside, outside = m["true_change_inside"], m["true_leakage"]
    return f" (the true edits change them by {inside:.2f} and the rest by {outside:.2f})"


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown tables."""
    n = results["faces"]
    lines = [
        f"Bundled models on {n} held-out SynthFaces faces (test identities), 64 px; each face "
        f"edited to the 7 other expressions ({7 * n} edits per editor). Accuracy: the bundled "
        "classifier's verdict on the edit; AU MAE: the bundled regressor on the edit against the "
        "true target's AUs (0..5); PSNR/SSIM/L1 against the true edited face; leakage: mean "
        "change (grey levels) outside the regions either expression moves; change inside: "
        f"the mean change inside them{_truth_change(results)}.",
        "",
        "| model | steps | edits | accuracy % | AU MAE | PSNR dB | SSIM | L1 | leakage | "
        "change inside | outside share % | FID | KID x1000 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["editors"].items():
        m = r["metrics"]
        lines.append(
            f"| {name} | {r.get('steps') or '-'} | {r['n_edits']} | "
            f"{_f(m.get('expression_accuracy'))} | {_f(m.get('au_mae'), 3)} | "
            f"{_f(m.get('psnr'), 2)} | {_f(m.get('ssim'), 3)} | {_f(m.get('l1'), 4)} | "
            f"{_f(m.get('leakage'), 2)} | {_f(m.get('change_inside'), 2)} | "
            f"{_f(m.get('outside_share'))} | "
            f"{_f(m.get('fid'), 2)} | {_f(m.get('kid_x1000'), 2)} |"
        )
    fid = next((r["unavailable"].get("fid_kid") for r in results["editors"].values()), None)
    if fid:
        lines += ["", f"FID/KID: unavailable: {fid['reason']} (fix: {fid['fix']})."]
    lines += ["", "Accuracy per target expression (%):", ""]
    lines += ["| model | " + " | ".join(EXPRESSIONS) + " |", "|---|" + "---|" * len(EXPRESSIONS)]
    for name, r in results["editors"].items():
        per = r["metrics"].get("expression_accuracy_per_target", {})
        lines.append(f"| {name} | " + " | ".join(_f(per.get(e)) for e in EXPRESSIONS) + " |")
    if results.get("single_au"):
        lines += [
            "",
            "Single-AU edits (one AU switched on at 4 or off, the other 16 kept; the regressor "
            "against the target AUs):",
            "",
            "| model | edits | AU MAE (17 AUs) | error on the switched AU | MAE on the 16 kept "
            "AUs | PSNR dB | regressor on the true render |",
            "|---|---|---|---|---|---|---|",
        ]
        rows = dict(results["single_au"])
        if results.get("single_au_unedited"):
            rows["the input, unedited"] = results["single_au_unedited"]
        for name, r in rows.items():
            lines.append(
                f"| {name} | {r['n_edits']} | {r['au_mae_all']:.3f} | "
                f"{r['au_error_switched']:.3f} | {r['au_mae_kept']:.3f} | "
                f"{r['psnr']:.2f} | {r['au_mae_true_render']:.3f} |"
            )
    if results["parsers"]:
        lines += ["", f"Parsers on {results['parser_faces']} held-out faces:", ""]
        lines += ["| parser | steps | mIoU | mean F1 (fg) | pixel acc |", "|---|---|---|---|---|"]
        for name, r in results["parsers"].items():
            lines.append(
                f"| {name} | {r.get('steps') or '-'} | {r['miou']:.1f} | "
                f"{r['mean_f1_foreground']:.1f} | {r['pixel_accuracy']:.1f} |"
            )
    ev = results.get("evaluators")
    if ev:
        per = ", ".join(f"{k} {v:.1f}" for k, v in ev["classifier_accuracy_per_class"].items())
        lines += [
            "",
            f"Evaluators on {ev['n']} held-out renders: classifier accuracy "
            f"{ev['classifier_accuracy']:.1f}% ({per}); regressor AU MAE "
            f"{ev['regressor_au_mae']:.3f}.",
        ]
    lines += ["", "| claim | figures | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['figures']} | {c['verdict']} |" for c in results["claims"]]
    return "\n".join(lines) + "\n"


def replace_between(text: str, start: str, end: str, body: str) -> str:
    """`text` with what lies between the markers replaced (the markers appended if absent)."""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + start + "\n" + body + end + rest.split(end, 1)[1]
    return text.rstrip("\n") + f"\n\n{start}\n{body}{end}\n"


def card_section(name: str, results: dict[str, Any]) -> str:
    """What a bundled model's card says of its scores."""
    if name in EVALUATORS:
        data = {k: v for k, v in results["evaluators"].items() if k != "classifier_confusion"}
    elif name in results["parsers"]:
        r = results["parsers"][name]
        data = {k: r[k] for k in ("miou", "mean_f1_foreground", "pixel_accuracy")}
    else:
        r = results["editors"][name]
        data = {"n_edits": r["n_edits"], **r["metrics"]}
    if name in results.get("single_au", {}):
        data["single_au_edits"] = results["single_au"][name]
    return (
        f"Scored by `benchmarks/quality.py` on {results['faces']} held-out SynthFaces faces "
        f"(test identities), {results['date']}:\n\n```json\n"
        + json.dumps(data, indent=2)
        + "\n```\n"
    )


# --- real faces -------------------------------------------------------------------------------


def real_scores(
    names: list[str],
    folders: dict[str, str],
    prepared: str,
    faces: int,
    photos: Path | None,
    fid: dict[str, Any],
    skip_fid: bool,
) -> dict[str, Any]:
    """Every editor in `names` on `faces` held-out real faces of `prepared` and on the registry
    photos in `photos`, edited through `EditPipeline` and scored by the judges."""
    from segan.pipeline import EditPipeline

    judges = Judges.load()
    have = set(bundled.available()) | set(folders)
    estimator = open_model("regressor", folders)[0] if "regressor" in have else None
    results: dict[str, Any] = {
        "faces": faces,
        "prepared": prepared,
        "photos": str(photos) if photos else None,
        "date": time.strftime("%Y-%m-%d"),
        "judges": judges.used,
        "judges_missing": judges.missing,
        "editors": {},
    }
    if photos is None:
        results["photos_unavailable"] = {
            "reason": f"no registry photos at {REAL_PHOTOS}",
            "fix": "python benchmarks/real_photos.py",
        }
    results["parsers"] = {}
    for name in names:
        model, steps = open_model(name, folders)
        if model.role == "parser":
            data = EvalData("ffhq", prepared, 10**6, 128, 50)
            size = trained_size(name, folders)
            r = evaluate_parser(ParsedAt(model.eval(), size), data)["metrics"]
            results["parsers"][name] = {"steps": steps, **r}
            print(f"{name}: mIoU on real faces {r['miou']:.1f}", flush=True)
        if model.role != "editor":
            continue
        # the app's pipeline: no parser (it only draws part maps), the AU estimator for the
        # fine-grained model's source AUs
        pipeline = EditPipeline(model, None, estimator, name=name)
        r = evaluate_real(pipeline, prepared, faces, judges, fid=fid, skip_fid=skip_fid)
        if photos is not None:
            r["photos"] = evaluate_photos(pipeline, photos, judges, shown=list(SHOWN_PHOTOS))
        results["editors"][name] = {"steps": steps, **r}
        m = r["metrics"]
        print(
            f"{name}: judged {_f(m.get('judged_accuracy'))}% (unedited "
            f"{_f(m.get('unedited_accuracy'))}%), identity {_f(m.get('identity_distance'), 3)}, "
            f"{_seconds(r):.0f} s",
            flush=True,
        )
    return results


def _seconds(r: dict[str, Any]) -> float:
    """An editor's time on the real faces and the registry photos."""
    return r.get("seconds", 0.0) + r.get("photos", {}).get("seconds", 0.0)


def real_markdown(results: dict[str, Any]) -> str:
    """The real-face results as markdown tables."""
    editors = results["editors"]
    first = next(iter(editors.values()), {})
    n = results["faces"]
    where = f"{first.get('dataset', '?')} ({first.get('split')} split)"
    if first.get("dataset") == "ffhq" and first.get("split") == "test":
        where = f"held-out FFHQ faces (ids {HELD_OUT.start}-{HELD_OUT.stop - 1}"
    lines = [
        f"Today's editors, trained on SynthFaces only, on real faces: {n} {where}, "
        f"{first.get('resolution', 128)} px), each edited as the app edits a photo (the face "
        "found, cropped at the model's resolution, the change pasted back) to the 7 other "
        "expressions and scored by models nobody here trained. Judged: fer's expression "
        "classifier reads the edited photo as the target; unedited: it reads the input so (what "
        "an editor that does nothing scores); changed: its reading of the edit differs from "
        "the input's; identity distance: dlib's descriptor distance between input and edit "
        "(the same person below 0.6); leakage and change inside: mean grey-level change "
        "outside and inside the mesh regions the two expressions move.",
        "",
        "| model | steps | faces edited | edits | judged % | unedited % | changed % | identity "
        "distance | same person % | leakage | change inside | outside share % | FID | "
        "KID x1000 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in editors.items():
        m = r["metrics"]
        lines.append(
            f"| {name} | {r.get('steps') or '-'} | {r['faces_edited']} of {r['n_faces']} | "
            f"{r['n_edits']} | {_f(m.get('judged_accuracy'))} | "
            f"{_f(m.get('unedited_accuracy'))} | {_f(m.get('reading_changed'))} | "
            f"{_f(m.get('identity_distance'), 3)} | {_f(m.get('same_person'))} | "
            f"{_f(m.get('leakage'), 2)} | {_f(m.get('change_inside'), 2)} | "
            f"{_f(m.get('outside_share'))} | {_f(m.get('fid'), 2)} | "
            f"{_f(m.get('kid_x1000'), 2)} |"
        )
    judged = [e for e in EXPRESSIONS if e != "contempt"]
    lines += [
        "",
        "Judged accuracy per target, edited / unedited (%; the judge has no contempt class: "
        f"contempt edits, {first.get('unjudged_contempt', 0)} per editor, are not judged):",
        "",
        "| model | " + " | ".join(judged) + " |",
        "|---|" + "---|" * len(judged),
    ]
    for name, r in editors.items():
        edited = r["metrics"].get("judged_accuracy_per_target", {})
        unedited = r["metrics"].get("unedited_accuracy_per_target", {})
        cells = [f"{_f(edited.get(e))} / {_f(unedited.get(e))}" for e in judged]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    photo_rows = {k: r["photos"] for k, r in editors.items() if "photos" in r}
    if photo_rows:
        p = next(iter(photo_rows.values()))
        shown = " | ".join(f"{label}: judged % / distance" for label in SHOWN_PHOTOS.values())
        lines += [
            "",
            f"Registry photos (`benchmarks/real_photos.py`; {p['photos']} photos, "
            f"{p['duplicates_left_out']} copies of another left out; the largest face of each "
            "edited to the 7 expressions other than its posed one, or the one the judge reads; "
            "both judges read the photo's part the crop covers; only the astronaut and Grace "
            "Hopper may be shown, the others count in the totals):",
            "",
            "| model | photos edited | edits | judge found no face | judged % | unedited % | "
            f"identity distance | same person % | {shown} |",
            "|---|---|---|---|---|---|---|---|" + "---|" * len(SHOWN_PHOTOS),
        ]
        for name, r in photo_rows.items():
            m = r["metrics"]
            cells = []
            for file in SHOWN_PHOTOS:
                own = r["per_photo"].get(file, {}).get("metrics", {})
                cells.append(
                    f"{_f(own.get('judged_accuracy'))} / {_f(own.get('identity_distance'), 3)}"
                )
            lines.append(
                f"| {name} | {r['photos_edited']} of {r['photos']} | {r['n_edits']} | "
                f"{r['unread']['expression']} | {_f(m.get('judged_accuracy'))} | "
                f"{_f(m.get('unedited_accuracy'))} | {_f(m.get('identity_distance'), 3)} | "
                f"{_f(m.get('same_person'))} | " + " | ".join(cells) + " |"
            )
    elif results.get("photos_unavailable"):
        why = results["photos_unavailable"]
        lines += ["", f"Registry photos: unavailable: {why['reason']} (fix: {why['fix']})."]
    if results.get("parsers"):
        parts = list(MESH_PARTS)
        lines += [
            "",
            "Parsers on the held-out FFHQ faces' mesh masks (IoU %, over the pixels and classes "
            "the mesh labels; `-ffhq`: trained on real faces, the others on SynthFaces only):",
            "",
            "| parser | steps | mIoU | " + " | ".join(parts) + " |",
            "|---|---|---|" + "---|" * len(parts),
        ]
        for name, r in results["parsers"].items():
            cells = " | ".join(_f(r["iou"].get(part)) for part in parts)
            lines.append(f"| {name} | {r.get('steps') or '-'} | {_f(r['miou'])} | {cells} |")
    fid = next((r["unavailable"].get("fid_kid") for r in editors.values()), None)
    if fid:
        lines += ["", f"FID/KID: unavailable: {fid['reason']} (fix: {fid['fix']})."]
    for judge, why in results.get("judges_missing", {}).items():
        lines += ["", f"The {judge} judge: unavailable: {why['reason']} (fix: {why['fix']})."]
    seconds = sum(_seconds(r) for r in editors.values())
    lines += ["", f"Judges: {'; '.join(results['judges'].values()) or 'none'}."]
    lines += [f"{results['date']}, {seconds / 60:.0f} min on {os.cpu_count()} CPU cores."]
    return "\n".join(lines) + "\n"


def real_main(args: argparse.Namespace, names: list[str], folders: dict[str, str]) -> int:
    """The real-face table (`--real`): quality_real.json and .md, and README.md's copy."""
    photos = Path(args.photos) if args.photos else None
    if photos is not None and not (photos / "manifest.json").is_file():
        print(f"no registry photos at {photos}: python benchmarks/real_photos.py", flush=True)
        photos = None
    fid = {"weights_path": args.inception_weights} if args.inception_weights else {}
    results = real_scores(names, folders, args.real, args.faces, photos, fid, args.no_fid)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = merged(out / "quality_real.json", results)
    (out / "quality_real.json").write_text(json.dumps(results, indent=2) + "\n")
    table = real_markdown(results)
    (out / "quality_real.md").write_text(table)
    print(table)
    if args.readme:
        readme = Path("README.md")
        readme.write_text(put_real_table(readme.read_text(), table))
    return 0


def merged(previous: Path, results: dict[str, Any]) -> dict[str, Any]:
    """`results` with the models an earlier run of the same faces scored and this one did not
    (so one model can be scored again without the others)."""
    if not previous.is_file():
        return results
    old = json.loads(previous.read_text())
    if (old.get("prepared"), old.get("faces")) != (results["prepared"], results["faces"]):
        return results
    for key in ("editors", "parsers"):
        kept = {k: v for k, v in old.get(key, {}).items() if k not in results.get(key, {})}
        results[key] = {**kept, **results.get(key, {})}
    return results


def put_real_table(text: str, table: str) -> str:
    """README text with the real-face table between its markers, which go right after the
    SynthFaces table's end marker when they are not there yet."""
    if REAL_START in text and REAL_END in text:
        return replace_between(text, REAL_START, REAL_END, table)
    if README_END not in text:
        return replace_between(text, REAL_START, REAL_END, table)
    head, rest = text.split(README_END, 1)
    return head + README_END + f"\n\n{REAL_START}\n{table}{REAL_END}" + rest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--faces", type=int, default=150, help="test faces per editor (x7 edits)")
    p.add_argument("--parser-faces", type=int, default=500)
    p.add_argument("--evaluator-faces", type=int, default=2000)
    p.add_argument("--models", nargs="*", help="which bundled models (default: all there are)")
    p.add_argument("--model", nargs="*", default=[], help="NAME=FOLDER in place of bundled")
    p.add_argument("--inception-weights", help="torch-fidelity's Inception weights file")
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--readme", action="store_true", help="write the tables into README.md")
    p.add_argument("--cards", action="store_true", help="write scores into the model cards")
    p.add_argument("--real", help="prepared held-out real faces: make the real-face table")
    p.add_argument("--photos", default=str(REAL_PHOTOS), help="registry photos (with --real)")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    folders = dict(item.split("=", 1) for item in args.model)
    have = set(bundled.available()) | set(folders)
    wanted = [m for m in (args.models or list(RECIPES)) if m in have]
    if args.real:
        real = [m for m in wanted if m not in EVALUATORS]
        return real_main(args, real, folders)
    for evaluator in EVALUATORS:
        if evaluator not in have:
            raise SystemExit(
                f"no bundled {evaluator}: `python -m segan.train.bundle train {evaluator}`"
            )
    classifier, _ = open_model("classifier", folders)
    regressor, _ = open_model("regressor", folders)
    size = classifier.image_size
    classifier = AtResolution(classifier, classifier.image_size)
    regressor = AtResolution(regressor, regressor.image_size)
    results: dict[str, Any] = {
        "faces": args.faces,
        "parser_faces": args.parser_faces,
        "date": time.strftime("%Y-%m-%d"),
        "editors": {},
        "parsers": {},
        "single_au": {},
        "single_au_unedited": None,
    }
    t0 = time.perf_counter()
    results["evaluators"] = evaluator_scores(classifier, regressor, args.evaluator_faces, size)
    print(f"evaluators: {results['evaluators']['classifier_accuracy']:.1f}%", flush=True)
    fid = {"weights_path": args.inception_weights} if args.inception_weights else {}
    for name in wanted:
        if name in EVALUATORS:
            continue
        model, steps = open_model(name, folders)
        joint = model.role == "editor" and isinstance(getattr(model, "parser", None), Parser)
        if model.role == "parser" or joint:
            parser = model if model.role == "parser" else model.parser
            label = name if model.role == "parser" else f"{name} (joint parser)"
            size = trained_size(name, folders)
            data = EvalData(n=args.parser_faces, resolution=size, batch_size=50)
            r = evaluate_parser(parser.eval(), data)["metrics"]
            results["parsers"][label] = {"steps": steps, "setup": parser_setup(parser), **r}
            if joint and started_from(name):
                results["parsers"][label]["started_from"] = started_from(name)
            print(f"{label}: mIoU {r['miou']:.1f}", flush=True)
            control = open_control(name, steps, folders) if model.role == "parser" else None
            if control is not None:
                r = evaluate_parser(control[0], data)["metrics"]
                setup = parser_setup(control[0])
                results["parsers"][name + CONTROL] = {"steps": control[1], "setup": setup, **r}
                print(f"{name}{CONTROL}: mIoU {r['miou']:.1f}", flush=True)
        if model.role != "editor":
            continue
        data = EvalData(n=args.faces, resolution=model.image_size, batch_size=50)
        r = evaluate_editor(
            model, data, classifier=classifier, regressor=regressor, fid=fid, skip_fid=args.no_fid
        )
        results["editors"][name] = {"steps": steps, "setup": editor_setup(model), **r}
        print(f"{name}: accuracy {r['metrics']['expression_accuracy']:.1f}%", flush=True)
        if model.condition_kind in ("aus", "relative_aus"):
            px = model.image_size
            results["single_au"][name] = single_au_scores(model, regressor, args.faces, px)
            if results["single_au_unedited"] is None:  # the same faces and targets, no edit
                results["single_au_unedited"] = single_au_scores(None, regressor, args.faces, px)
    results["claims"] = claims(results)
    results["seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "quality.md").write_text(table)
    print(table)
    if args.readme:
        readme = Path("README.md")
        readme.write_text(replace_between(readme.read_text(), README_START, README_END, table))
    if args.cards:
        for name in wanted:
            if name in folders:
                continue
            card = bundled.resolve(f"bundled:{name}") / "README.md"
            text = card.read_text()
            card.write_text(
                replace_between(text, CARD_START, CARD_END, card_section(name, results))
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
