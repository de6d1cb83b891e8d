"""`liftbench train`: train a model on CIFAR pickles, an image folder, a segmentation folder or the demo sets; print
the checkpoint."""

import os
from typing import Any

import click

from robustbench_lift.commands.config import config_option
from robustbench_lift.commands.fields import FieldCommand, field_options, typed
from robustbench_lift.commands.options import CLASSES, NON_NEGATIVE, SEED, model_args_callback
from robustbench_lift.suites.options import field_names

RECIPE_FIELDS = {
    "epochs": dict(type=click.IntRange(min=1), help="[default: CIFAR 200, ImageNet 90, demo 15, VOC 45, Cityscapes "
                   "215, ADE20K 63]"),
    "batch_size": dict(type=click.IntRange(min=1), help="Global batch per step.  [default: 128, ImageNet 256, VOC and "
                       "ADE20K 16, Cityscapes 8]"),
    "lr": dict(type=float, help="Peak learning rate.  [default: 0.1, VOC 0.007, Cityscapes and ADE20K 0.01]"),
    "weight_decay": dict(type=float, help="[default: 5e-4, ImageNet and VOC 1e-4]"),
    "label_smoothing": dict(type=float, help="[default: CIFAR 0, ImageNet and demo 0.1, segmentation 0]"),
    "warmup_epochs": dict(type=float, help="Linear warm-up before the schedule.  [default: demo 1, else 0]"),
    "schedule": dict(help="Decay after the warm-up: cosine or poly.  [default: segmentation folders poly, else "
                     "cosine]"),
    "poly_power": dict(type=float, help="Exponent of the poly schedule.  [default: 0.9]"),
    "crop_size": dict(type=click.IntRange(min=1), help="Training crop side of image and segmentation folders.  "
                      "[default: ImageNet 224, VOC 513, Cityscapes 768, ADE20K 512]"),
    "min_scale": dict(type=float, help="Smallest random scale of segmentation folders.  [default: 0.5]"),
    "max_scale": dict(type=float, help="Largest random scale of segmentation folders.  [default: 2.0]"),
    "lambda_u": dict(type=float, help="Weight of LiftPool's updater constraint.  [default: 0.01]"),
    "lambda_p": dict(type=float, help="Weight of LiftPool's predictor constraint.  [default: 0.1]"),
    "seed": dict(type=SEED, help="Initialisation, data order and augmentation.  [default: 0]"),
}
MODEL_FIELDS = {
    "pool": dict(help="Swap the pooling of the model, e.g. lift, blur5 (any ConvNet)."),
    "model_args": dict(decls=("--model-arg",), multiple=True, metavar="KEY=VALUE", callback=model_args_callback,
                       help="Keyword argument of the model builder (zoo: pooling options), repeatable."),
    "num_classes": dict(type=CLASSES, help="Must match the data.  [default: the data's]"),
    "weights": dict(type=click.Path(), help="Initial weights (fine-tuning) instead of a seeded init: DEFAULT, a "
                    "weights tag, or a checkpoint, also of the original architecture of a --pool swapped model (what "
                    "loaded and what is new is printed)."),
}
"""The command-line side of the `Recipe` fields (unset: the data set's recipe) and of `ModelOptions`."""


def _params() -> list[click.Parameter]:
    from robustbench_lift.engine.options import ModelOptions
    from robustbench_lift.training.recipe import Recipe

    return [
        config_option(),
        click.Option(["--model"], required=True, help="Zoo name (demo-lift, cifar_resnet18-blur, resnet50-lift), "
                     "torchvision:<name>, timm:<name>, path/to/file.py:factory or package.module:factory."),
        *field_options([ModelOptions], MODEL_FIELDS, hidden={"name", "mean", "std", "test_size"}),
        click.Option(["--data"], required=True, help="'demo', 'demo-seg', a CIFAR-10/100 pickle folder, an ImageFolder "
                     "train tree, or a segmentation folder (PASCAL VOC 2012, Cityscapes, ADE20K, images/ + masks/)."),
        click.Option(["--out"], required=True, type=click.Path(file_okay=False),
                     help="Run folder: last.pt, final.pt, log."),
        *field_options([Recipe], RECIPE_FIELDS, hidden={"momentum", "nesterov", "augment", "crop_padding"}),
        click.Option(["--device"], default="auto", show_default=True, help="auto, cpu or cuda[:i]."),
        click.Option(["--workers"], default=0, show_default=True, type=NON_NEGATIVE,
                     help="Loader processes (image folders)."),
        click.Option(["--amp/--no-amp"], default=None, help="Autocast bf16 (fp16 without bf16).  [default: on CUDA "
                     "only]"),
        click.Option(["--checkpoint-every"], type=click.IntRange(min=1), help="Also write last.pt every N steps."),
        click.Option(["--resume/--no-resume"], default=True, show_default=True, help="Continue from --out/last.pt."),
        click.Option(["--encoder-weights"], type=click.Path(exists=True, dir_okay=False), help="A classification "
                     "checkpoint for a segmentation model's encoder: torchvision's VGG-16-BN for segnet_vgg16_bn-*, a "
                     "ResNet of the same pooling for deeplabv3plus_*."),
        click.Option(["--progress/--no-progress"], default=True, show_default=True),
    ]


@click.command(cls=FieldCommand, make_params=_params)
def train(model: str, data: str, out: str, device: str, workers: int, amp: bool | None, checkpoint_every: int | None,
          resume: bool, encoder_weights: str | None, progress: bool, **fields: Any) -> None:
    """Train --model on --data with the data set's default recipe (any value overridable); resumable.

    \b
      liftbench train --model demo-lift --data demo --out runs/demo-lift
      liftbench train --model cifar_resnet18-lift --data cifar-100-python --out runs/c100 --epochs 100
      torchrun --nproc_per_node 8 -m robustbench_lift train --model resnet50-lift --data imagenet/train --out runs/r50
      liftbench train --model torchvision:resnet50 --pool lift --weights r50.pth --data imagenet/train --out ft
      liftbench train --model deeplabv3plus_resnet50-lift --encoder-weights r50-lift.pt --data VOCdevkit --out dl
    """
    from robustbench_lift.engine.options import ModelOptions
    from robustbench_lift.models import read_checkpoint
    from robustbench_lift.training import FINAL, Recipe, open_train_set, recipe_for
    from robustbench_lift.training import train as run_training

    train_set = open_train_set(data)
    recipe = recipe_for(train_set.kind).override(**{k: v for k, v in fields.items() if k in field_names(Recipe)})
    path = run_training(model, train_set, out, recipe, options=typed(ModelOptions, fields), device=device,
                        workers=workers, amp=amp, resume=resume, checkpoint_every=checkpoint_every, progress=progress,
                        encoder_weights=encoder_weights, on_transfer=lambda report: click.echo(report.format()))
    if int(os.environ.get("RANK", "0")) != 0:
        return
    _, meta = read_checkpoint(path)
    test = "-" if meta["test_acc"] is None else f"{100 * meta['test_acc']:.2f}%"
    click.echo(f"checkpoint: {path}\nsha256: {path.with_name(FINAL + '.sha256').read_text().split()[0]}\n"
               f"test accuracy: {test}")
