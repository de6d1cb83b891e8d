"""`liftbench train`: train a model on CIFAR pickles, an image folder, a segmentation folder or the demo sets; print
the checkpoint."""

import os
from typing import Any

import click

from robustbench_lift.commands.options import CLASSES, NON_NEGATIVE, SEED


@click.command()
@click.option("--model", required=True, help="Zoo name (demo-lift, cifar_resnet18-blur, resnet50-lift), "
              "torchvision:<name>, timm:<name>, path/to/file.py:factory or package.module:factory.")
@click.option("--pool", help="Swap the pooling of the model, e.g. lift, blur5 (any ConvNet).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Keyword argument of the model "
              "builder (zoo: pooling options), repeatable.")
@click.option("--data", required=True, help="'demo', 'demo-seg', a CIFAR-10/100 pickle folder, an ImageFolder train "
              "tree, or a segmentation folder (PASCAL VOC 2012, Cityscapes, ADE20K, images/ + masks/).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder: last.pt, final.pt, log.")
@click.option("--epochs", type=click.IntRange(min=1), help="[default: CIFAR 200, ImageNet 90, demo 15, VOC 45, "
              "Cityscapes 215, ADE20K 63]")
@click.option("--batch-size", type=click.IntRange(min=1), help="Global batch per step.  [default: 128, ImageNet 256, "
              "VOC and ADE20K 16, Cityscapes 8]")
@click.option("--lr", type=float, help="Peak learning rate.  [default: 0.1, VOC 0.007, Cityscapes and ADE20K 0.01]")
@click.option("--weight-decay", type=float, help="[default: 5e-4, ImageNet and VOC 1e-4]")
@click.option("--label-smoothing", type=float, help="[default: CIFAR 0, ImageNet and demo 0.1, segmentation 0]")
@click.option("--warmup-epochs", type=float, help="Linear warm-up before the schedule.  [default: demo 1, else 0]")
@click.option("--schedule", help="Decay after the warm-up: cosine or poly.  [default: "
              "segmentation folders poly, else cosine]")
@click.option("--poly-power", type=float, help="Exponent of the poly schedule.  [default: 0.9]")
@click.option("--crop-size", type=click.IntRange(min=1), help="Training crop side of image and segmentation "
              "folders.  [default: ImageNet 224, VOC 513, Cityscapes 768, ADE20K 512]")
@click.option("--min-scale", type=float, help="Smallest random scale of segmentation folders.  [default: 0.5]")
@click.option("--max-scale", type=float, help="Largest random scale of segmentation folders.  [default: 2.0]")
@click.option("--lambda-u", type=float, help="Weight of LiftPool's updater constraint.  [default: 0.01]")
@click.option("--lambda-p", type=float, help="Weight of LiftPool's predictor constraint.  [default: 0.1]")
@click.option("--seed", type=SEED, help="Initialisation, data order and augmentation.  [default: 0]")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:i].")
@click.option("--workers", default=0, show_default=True, type=NON_NEGATIVE, help="Loader processes (image folders).")
@click.option("--amp/--no-amp", default=None, help="Autocast bf16 (fp16 without bf16).  [default: on CUDA only]")
@click.option("--checkpoint-every", type=click.IntRange(min=1), help="Also write last.pt every N steps.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from --out/last.pt.")
@click.option("--num-classes", type=CLASSES, help="Must match the data.  [default: the data's]")
@click.option("--weights", type=click.Path(), help="Initial weights (fine-tuning) instead of a seeded init: DEFAULT, "
              "a weights tag, or a checkpoint, also of the original architecture of a --pool swapped model (what "
              "loaded and what is new is printed).")
@click.option("--encoder-weights", type=click.Path(exists=True, dir_okay=False), help="A classification "
              "checkpoint for a segmentation model's encoder: torchvision's VGG-16-BN for segnet_vgg16_bn-*, a ResNet "
              "of the same pooling for deeplabv3plus_*.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(model: str, data: str, out: str, device: str, workers: int, amp: bool | None, checkpoint_every: int | None,
          resume: bool, num_classes: int | None, weights: str | None, encoder_weights: str | None, progress: bool,
          pool: str | None, model_args: tuple[str, ...], **recipe: Any) -> None:
    """Train --model on --data with the data set's default recipe (any value overridable); resumable.

    \b
      liftbench train --model demo-lift --data demo --out runs/demo-lift
      liftbench train --model cifar_resnet18-lift --data cifar-100-python --out runs/c100 --epochs 100
      torchrun --nproc_per_node 8 -m robustbench_lift train --model resnet50-lift --data imagenet/train --out runs/r50
      liftbench train --model torchvision:resnet50 --pool lift --weights r50.pth --data imagenet/train --out ft
      liftbench train --model deeplabv3plus_resnet50-lift --encoder-weights r50-lift.pt --data VOCdevkit --out dl
    """
    from robustbench_lift.models import parse_model_args, read_checkpoint
    from robustbench_lift.training import FINAL, open_train_set, recipe_for
    from robustbench_lift.training import train as run_training

    train_set = open_train_set(data)
    path = run_training(model, train_set, out, recipe_for(train_set.kind).override(**recipe), weights=weights,
                        num_classes=num_classes, device=device, workers=workers, amp=amp, resume=resume,
                        checkpoint_every=checkpoint_every, progress=progress, pool=pool,
                        encoder_weights=encoder_weights, on_transfer=lambda report: click.echo(report.format()),
                        **parse_model_args(model_args))
    if int(os.environ.get("RANK", "0")) != 0:
        return
    _, meta = read_checkpoint(path)
    test = "-" if meta["test_acc"] is None else f"{100 * meta['test_acc']:.2f}%"
    click.echo(f"checkpoint: {path}\nsha256: {path.with_name(FINAL + '.sha256').read_text().split()[0]}\n"
               f"test accuracy: {test}")
