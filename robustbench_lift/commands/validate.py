"""`liftbench validate-data`: what is wrong with a corruption tree, a CIFAR-C folder or an image folder."""

import click


@click.command("validate-data")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--sha256", type=click.Path(dir_okay=False), help="A sha256sum list (<hex>  <path relative to "
              "PATH>) the files must match; paths resolving outside PATH are refused.")
@click.option("--decode", is_flag=True, help="Decode every image fully (slower; also finds truncated files).")
@click.option("--skip-images", is_flag=True, help="Check layout, classes and counts only, without opening images.")
def validate_data_command(path: str, sha256: str | None, decode: bool, skip_images: bool) -> None:
    """Check the data at PATH: corruptions, each one's severities (1-5; subset freq: its own levels), the same
    classes, image count and file names in every cell, readable images of one size, and optionally the files'
    sha256. Prints every problem; exit 1 if any.

    \b
      liftbench validate-data Tiny-ImageNet-C
      liftbench validate-data CIFAR-10-C --sha256 CIFAR-10-C.sha256
    """
    from robustbench_lift.data.validate import validate_data

    report = validate_data(path, sha256, images=not skip_images, decode=decode)
    click.echo(report.format())
    if not report.ok:
        click.get_current_context().exit(1)
