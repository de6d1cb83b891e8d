"""Every metric formula of the benchmark, as pure NumPy functions (no torch, no models, no suites).

- `corruption`: top-1/top-5 error, CE, relative CE, mCE, mean error (ImageNet-C, CIFAR-C), AlexNet constants;
- `perturbation`: flip probability, top-5 distance, FR/T5D aggregates (ImageNet-P);
- `shift`: crop-pair consistency, diagonal agreement;
- `segmentation`: per-image intersection/union counts, mIoU, pixel accuracy, mCD, per-pixel shift consistency;
- `bootstrap`: replicates of per-unit means and percentile intervals for every aggregate's CI.
"""
