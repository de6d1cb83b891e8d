"""The model zoo: every backbone with every pooling, by name, with the weights people actually have.

    >>> from robustbench_lift.models import create_model, list_models
    >>> model = create_model("resnet50-lift")                  # LiftPool at antialiased-cnns' sites, seeded init
    >>> model = create_model("resnet50-max", weights="DEFAULT") # torchvision's ImageNet weights (torch.hub cache)
    >>> model = create_model("cifar_resnet18-lift3", num_classes=10, subbands=("LL",))
"""

from robustbench_lift.models.registry import create_model, describe_model, list_models, load_model, model_spec
from robustbench_lift.models.sites import Pooling, Site, apply_pooling
from robustbench_lift.models.spec import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from robustbench_lift.models.weights import (
    REQUIRED_META,
    cache_path,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "BACKBONES", "IMAGENET_MEAN", "IMAGENET_STD", "REQUIRED_META", "ModelSpec", "Pooling", "Site", "apply_pooling",
    "cache_path", "create_model", "describe_model", "list_models", "load_model", "load_weights", "model_spec",
    "read_checkpoint", "save_checkpoint",
]
