"""`liftbench render`: write ImageNet-C style corrupted copies of an ImageFolder or a segmentation set."""

import click

from corruptions.names import ALL_SEVERITIES, SEVERITIES
from robustbench_lift.commands.options import NON_NEGATIVE, POSITIVE, SEED, parse_levels


@click.command()
@click.option("--data", required=True, type=click.Path(path_type=str), help="ImageFolder root (<class>/<image>), "
              "or a segmentation set (VOC, Cityscapes, ADE20K, images/ + masks/, 'demo').")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Output root of the corrupted tree.")
@click.option("--corruptions", default="common", show_default=True,
              help="Comma-separated corruption names and/or subsets (common, validation, all, noise, blur, ..., "
                   "3dcc, cbar, freq).")
@click.option("--severities", default=None, help="Severities, e.g. 1,3,5 or 2-4; each corruption renders those it has. "
              "[default: all: 1-5, freq's 1-8]")
@click.option("--backend", type=click.Choice(["auto", "torch", "reference"]), default="auto", show_default=True)
@click.option("--workers", default=0, show_default=True, type=NON_NEGATIVE,
              help="Image decoding processes and JPEG writer threads.")
@click.option("--batch-size", default=32, show_default=True, type=POSITIVE)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Base seed of the per-image corruption seeds.")
@click.option("--device", default=None, help="Device for the torch backend (default: cuda if available).")
@click.option("--preset", type=click.Choice(["imagenet", "cifar"]), default="imagenet", show_default=True,
              help="Segmentation sets: severity constants (cifar for 32 px images).")
def render(data: str, out: str, corruptions: str, severities: str, backend: str, workers: int, batch_size: int,
           seed: int, device: str | None, preset: str) -> None:
    """Write <out>/<corruption>/<severity>/<class>/<image>.JPEG (Resize 256, CenterCrop 224, JPEG quality 85).

    A segmentation set (VOC, Cityscapes, ADE20K, images/ + masks/, or 'demo') is written as
    <out>/<corruption>/<severity>/images/<stem>.png (each image at its own size, lossless) with masks/<stem>.png
    copied unchanged, the tree `liftbench evaluate --suite seg` reads. Resumable: existing files are kept. The
    images are "ImageNet-C style", corrupted by this package.
    """
    from robustbench_lift.data.render import render_imagenet_c
    from robustbench_lift.data.segmentation import is_segmentation_data
    from robustbench_lift.engine.device import resolve_device

    resolved = resolve_device(device) if device else None
    levels = parse_levels(severities, allowed=ALL_SEVERITIES)
    if is_segmentation_data(data):
        from robustbench_lift.data.render_segmentation import render_segmentation

        summary = render_segmentation(data, out, corruptions=corruptions, severities=levels or SEVERITIES,
                                      backend=backend, preset=preset, batch_size=batch_size, seed=seed,
                                      device=resolved)
        click.echo(f"wrote {summary.written} images, kept {summary.skipped} existing, under {summary.out}")
        return
    summary = render_imagenet_c(data, out, corruptions=corruptions, severities=levels, backend=backend,
                                workers=workers, batch_size=batch_size, seed=seed, device=resolved)
    click.echo(f"wrote {summary.written} images, kept {summary.skipped} existing, under {summary.out}")
