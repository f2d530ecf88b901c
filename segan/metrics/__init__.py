"""Evaluation metrics as plain functions returning dicts of numbers: realism (FID/KID via
torch-fidelity), expression accuracy and AU error, fidelity (PSNR, SSIM, L1, identity
distance), leakage, segmentation (confusion matrix, IoU, F1), and real-face edits judged by
models nobody here trained (expression reached, identity kept). A result that cannot be computed
here is `unavailable.unavailable(reason, fix)`."""
