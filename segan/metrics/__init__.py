"""Evaluation metrics in a registry (`registry.METRICS`, `get_metric`): realism (FID/KID via
torch-fidelity), expression accuracy and AU error, fidelity (PSNR, SSIM, L1, identity
distance), leakage, segmentation (confusion matrix, IoU, F1), and real-face edits judged by
models nobody here trained (expression reached, identity kept)."""


def load_all() -> None:
    """Import every metric module so the registry holds them all."""
    from segan.metrics import (  # noqa: F401
        expression,
        fidelity,
        judged,
        leakage,
        realism,
        segmentation,
    )
