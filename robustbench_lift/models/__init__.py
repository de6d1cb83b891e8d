"""The model zoo: every backbone with every pooling, by name, with the weights people actually have.

    >>> from robustbench_lift.models import create_model, list_models, resolve_model
    >>> list_models(backbone="demo")[:6]                   # the demo backbone with each pooling, in pooling order
    ['demo-max', 'demo-avg', 'demo-skip', 'demo-blur', 'demo-lift', 'demo-haar']
    >>> model = create_model("resnet50-lift")                  # LiftPool at antialiased-cnns' sites, seeded init
    >>> model = create_model("demo-lift", weights="DEFAULT")    # a shipped demo model (sha256-checked)
    >>> model = create_model("cifar_resnet18-lift3", num_classes=10, subbands=("LL",))
    >>> model = create_model("resnet50-max", weights="DEFAULT")  # downloads to torch.hub's cache  # doctest: +SKIP

Any other classifier (torchvision, timm, a user's factory), with its pooling swapped if asked:

    >>> model, meta = resolve_model("torchvision:resnet50", pool="lift")   # weights="DEFAULT": torchvision's
    >>> meta["model"]
    'torchvision:resnet50-lift'
"""

from robustbench_lift.models.create import create_model, load_model
from robustbench_lift.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from robustbench_lift.models.registry import describe_model, list_models, model_spec
from robustbench_lift.models.sites import Pooling, Site, apply_pooling
from robustbench_lift.models.sources import canonical_name, parse_model_args, resolve_model
from robustbench_lift.models.spec import BACKBONES, ModelSpec
from robustbench_lift.models.swap import describe_swap, swap_pooling
from robustbench_lift.models.transfer import TransferReport, transfer_weights
from robustbench_lift.models.weights import (
    REQUIRED_META,
    cache_path,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "BACKBONES", "IMAGENET_MEAN", "IMAGENET_STD", "REQUIRED_META", "ModelSpec", "Pooling", "Preprocess", "Site",
    "TransferReport", "apply_pooling", "cache_path", "canonical_name", "create_model", "describe_model",
    "describe_swap", "list_models", "load_model", "load_weights", "model_spec", "parse_model_args",
    "read_checkpoint", "resolve_model", "save_checkpoint", "swap_pooling", "transfer_weights",
]
