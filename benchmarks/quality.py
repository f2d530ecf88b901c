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
Writes quality.json + quality.md; `--readme` puts the tables into docs/results.md and their
summary (accuracy, error, leakage, the papers' claims) into README.md, between markers;
`--cards` puts each model's scores into its bundled model card. `--model NAME=FOLDER` scores
another folder (a run's model or `runs/bundled/NAME` for its latest checkpoint) in place of the
bundled one.

`--real PREPARED` (a folder `segan prepare ffhq ... --split test` wrote, with part masks) makes
the real-face table instead: every bundled editor edits `--faces` held-out FFHQ faces to the 7
other expressions through `EditPipeline`, as the app edits a photo, and then the registry photos
in `--photos` (benchmarks/real_photos.py gathers them), scored by `segan.evaluate_real` with the
judges nobody here trained; it writes quality_real.json + quality_real.md, and `--readme` puts
the tables into docs/results.md right after the SynthFaces tables and their summary into
README.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from bundled_models import (
    CONTROL,
    EVALUATORS,
    JOINT,
    AtResolution,
    editor_setup,
    fmt,
    open_control,
    open_model,
    parser_claims,
    parser_setup,
    replace_between,
    rewrite_between,
    setup_difference,
    started_from,
    trained_size,
)
from quality_real import (
    FRONT_PAGE,
    REAL_PHOTOS,
    RESULTS_DOC,
    SUMMARY_END,
    SUMMARY_START,
    TABLE_END,
    TABLE_START,
    publish_real,
    real_main,
)
from report import write_results

from segan import bundled
from segan.evaluate import (
    EvalData,
    apply_edit,
    edit_condition,
    evaluate_editor,
    evaluate_parser,
)
from segan.labels import AU_IDS, EXPRESSIONS, PRESET_AU_INTENSITY
from segan.models.base import Parser
from segan.synth.dataset import SynthFaces
from segan.train.bundle import CARD_END, CARD_START
from segan.train.recipes import RECIPES

ACCURACY_BAR = {"default": 80.0, "seghgan-bisenet": 90.0, "seghgan-unet": 90.0}


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
    parser_claims(parsers, claim)
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
            f"{fmt(m.get('expression_accuracy'))} | {fmt(m.get('au_mae'), 3)} | "
            f"{fmt(m.get('psnr'), 2)} | {fmt(m.get('ssim'), 3)} | {fmt(m.get('l1'), 4)} | "
            f"{fmt(m.get('leakage'), 2)} | {fmt(m.get('change_inside'), 2)} | "
            f"{fmt(m.get('outside_share'))} | "
            f"{fmt(m.get('fid'), 2)} | {fmt(m.get('kid_x1000'), 2)} |"
        )
    fid = next((r["unavailable"].get("fid_kid") for r in results["editors"].values()), None)
    if fid:
        lines += ["", f"FID/KID: unavailable: {fid['reason']} (fix: {fid['fix']})."]
    lines += ["", "Accuracy per target expression (%):", ""]
    lines += ["| model | " + " | ".join(EXPRESSIONS) + " |", "|---|" + "---|" * len(EXPRESSIONS)]
    for name, r in results["editors"].items():
        per = r["metrics"].get("expression_accuracy_per_target", {})
        lines.append(f"| {name} | " + " | ".join(fmt(per.get(e)) for e in EXPRESSIONS) + " |")
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


# the claims the front page repeats: the papers', not the project's own accuracy bars
PROJECT_BARS = ("target-expression accuracy >=", "evaluator classifier")


def summary(results: dict[str, Any]) -> str:
    """The front page's SynthFaces table: each editor's accuracy, error and leakage, and the
    papers' claims with their verdicts."""
    n = results["faces"]
    lines = [
        f"{n} held-out SynthFaces faces at 64 px, each edited to the 7 other expressions and "
        "compared with the true edit the renderer draws; accuracy: the bundled classifier reads "
        "the target; leakage: grey-level change outside the regions the expressions move; full "
        "tables: [docs/results.md](docs/results.md).",
        "",
        "| model | steps | accuracy % | AU MAE | L1 to the true edit | leakage |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["editors"].items():
        m = r["metrics"]
        lines.append(
            f"| {name} | {r.get('steps') or '-'} | {fmt(m.get('expression_accuracy'))} | "
            f"{fmt(m.get('au_mae'), 3)} | {fmt(m.get('l1'), 4)} | {fmt(m.get('leakage'), 2)} |"
        )
    papers = [c for c in results["claims"] if not any(b in c["claim"] for b in PROJECT_BARS)]
    lines += ["", "| claim | figures | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['figures']} | {c['verdict']} |" for c in papers]
    return "\n".join(lines) + "\n"


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


def publish(results: dict[str, Any]) -> None:
    """The SynthFaces tables into docs/results.md and their summary into README.md."""
    rewrite_between(RESULTS_DOC, TABLE_START, TABLE_END, markdown(results))
    rewrite_between(FRONT_PAGE, SUMMARY_START, SUMMARY_END, summary(results))


def publish_saved(out: Path) -> int:
    """docs/results.md and README.md rewritten from the results saved in `out`."""
    saved = {name: out / f"{name}.json" for name in ("quality", "quality_real")}
    missing = [str(path) for path in saved.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"no saved results at {', '.join(missing)}: run the benchmark first")
    publish(json.loads(saved["quality"].read_text()))
    publish_real(json.loads(saved["quality_real"].read_text()))
    print(f"wrote {RESULTS_DOC} and {FRONT_PAGE} from {out}")
    return 0


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
    p.add_argument(
        "--readme",
        action="store_true",
        help="write the tables into docs/results.md and their summary into README.md",
    )
    p.add_argument("--cards", action="store_true", help="write scores into the model cards")
    p.add_argument("--real", help="prepared held-out real faces: make the real-face table")
    p.add_argument("--photos", default=str(REAL_PHOTOS), help="registry photos (with --real)")
    p.add_argument(
        "--from-saved",
        action="store_true",
        help="only rewrite docs/results.md and README.md from the saved quality.json and "
        "quality_real.json in --out (no scoring)",
    )
    args = p.parse_args(argv)
    if args.from_saved:
        return publish_saved(Path(args.out))
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
            label = name if model.role == "parser" else f"{name}{JOINT}"
            size = trained_size(name, folders)
            data = EvalData(n=args.parser_faces, resolution=size, batch_size=50)
            r = evaluate_parser(parser.eval(), data)["metrics"]
            results["parsers"][label] = {"steps": steps, "setup": parser_setup(parser), **r}
            origin = started_from(name) if joint else None
            if origin:
                results["parsers"][label]["started_from"] = origin
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
    table = markdown(results)
    write_results(Path(args.out), "quality", results, table)
    print(table)
    if args.readme:
        publish(results)
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
