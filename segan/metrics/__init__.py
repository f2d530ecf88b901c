"""Evaluation metrics in a registry (`registry.METRICS`, `get_metric`): realism (FID/KID via
torch-fidelity), expression accuracy and AU error, fidelity (PSNR, SSIM, L1, identity
distance), leakage, and segmentation (confusion matrix, IoU, F1)."""


def load_all() -> None:
    """Import every metric module so the registry holds them all."""
    from segan.metrics import expression, fidelity, leakage, realism, segmentation  # noqa: F401
