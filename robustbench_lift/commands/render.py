"""`liftbench render`: write ImageNet-C style corrupted copies of an ImageFolder."""

import click

from corruptions.names import SEVERITIES
from robustbench_lift.commands.options import parse_levels


@click.command()
@click.option("--data", required=True, type=click.Path(path_type=str), help="ImageFolder root: <class>/<image>.")
@click.option("--out", required=True, type=click.Path(path_type=str), help="Output root of the corrupted tree.")
@click.option("--corruptions", default="common", show_default=True,
              help="Comma-separated corruption names and/or subsets (common, validation, all, noise, blur, ..., "
                   "3dcc, cbar).")
@click.option("--severities", default=",".join(map(str, SEVERITIES)), show_default=True,
              help="Severities in 1..5, e.g. 1,3,5 or 2-4.")
@click.option("--backend", type=click.Choice(["auto", "torch", "reference"]), default="auto", show_default=True)
@click.option("--workers", default=0, show_default=True, help="Image decoding processes and JPEG writer threads.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--seed", default=0, show_default=True, help="Base seed of the per-image corruption seeds.")
@click.option("--device", default=None, help="Device for the torch backend (default: cuda if available).")
def render(data: str, out: str, corruptions: str, severities: str, backend: str, workers: int, batch_size: int,
           seed: int, device: str | None) -> None:
    """Write <out>/<corruption>/<severity>/<class>/<image>.JPEG (Resize 256, CenterCrop 224, JPEG quality 85).

    Resumable: existing files are kept. The images are "ImageNet-C style", corrupted by this package.
    """
    from robustbench_lift.data.render import render_imagenet_c

    summary = render_imagenet_c(data, out, corruptions=corruptions, severities=parse_levels(severities),
                                backend=backend, workers=workers, batch_size=batch_size, seed=seed, device=device)
    click.echo(f"wrote {summary.written} images, kept {summary.skipped} existing, under {summary.out}")
