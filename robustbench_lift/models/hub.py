"""torchvision's and timm's published weights, read by liftbench's own reader (`weights.read_checkpoint`), never
by their loaders.

torchvision's builders read their file with `torch.hub.load_state_dict_from_url`, which unpickles with
`weights_only=False`, trusting a cached file whose sha256 starts with the 8 hex digits in its name (32 bits: a
planted file can match). So the architecture is built without weights, with the settings torchvision's builder
uses for those weights (`torchvision_architecture`), the file is read as data and loaded strictly. torchvision
publishes no full sha256 to check; the reader is what keeps a file from running code.

timm reads safely in its recent versions but not in every version `timm>=1.0` admits, so liftbench reads the
file timm would pick (the Hugging Face Hub repository's safetensors file if published, else the file its
configuration names; without the Hub, the URL in the torch.hub cache) and hands timm the state dict, so that
timm's own adaptations (a head of another size, key remapping) still apply.
"""

from collections.abc import Callable
from typing import Any

import torchvision
from torch import Tensor, nn

from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.models.densenet import rename_old_keys
from robustbench_lift.models.weights import cache_path, load_weights, read_checkpoint, read_published

_AUX = {"aux_logits": True, "init_weights": False}
_KEEPS_AUX = {"inception": True, "googlenet": False}
"""Whether the builder keeps the auxiliary heads after loading when `aux_logits` is not given."""
_SETTINGS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "inception": lambda member: _AUX,
    "googlenet": lambda member: _AUX,
    "vision_transformer": lambda member: {"image_size": member.meta["min_size"][0]},
    "maxvit": lambda member: {"input_size": member.meta["min_size"]},
}
"""What torchvision 0.29's builders set when given weights, besides `num_classes` (`_ovewrite_named_param` calls in
`torchvision/models/<module>.py`). Inception and GoogLeNet also default `transform_input` to True, and drop the
auxiliary heads after loading unless `aux_logits` asks to keep them."""
_AUX_HEADS = ("AuxLogits", "aux1", "aux2")


def _module(name: str) -> str:
    """The torchvision module that builds `name` (`resnet`, `densenet`, `vision_transformer`, ...)."""
    return torchvision.models.get_model_builder(name).__module__.rsplit(".", 1)[-1]


def torchvision_architecture(name: str, member: Any, kwargs: dict[str, Any]) -> nn.Module:
    """torchvision model `name` as its builder makes it for weights `member` (a weights enum member), not loaded.
    `UsageError` if `kwargs` contradict the weights (e.g. `num_classes=7` for ImageNet weights)."""
    settings = {"num_classes": len(member.meta["categories"]), **_SETTINGS.get(_module(name), lambda m: {})(member)}
    clash = [f"{key}={kwargs[key]!r}" for key, value in settings.items()
             if key in kwargs and kwargs[key] != value and key != "aux_logits"]
    if clash:
        raise UsageError(f"torchvision:{name} with {member}: {', '.join(clash)} contradicts the weights "
                         f"({', '.join(f'{k}={v!r}' for k, v in settings.items())})")
    defaults = {"transform_input": True} if "aux_logits" in settings else {}
    return torchvision.models.get_model(name, weights=None, **{**defaults, **kwargs, **settings})


def torchvision_pretrained(name: str, member: Any, kwargs: dict[str, Any]) -> nn.Module:
    """torchvision model `name` with the weights of `member` from the torch.hub cache (downloaded if absent), read
    as data and loaded strictly."""
    model, module = torchvision_architecture(name, member, kwargs), _module(name)
    state_dict, _ = read_published(member.url)
    if module == "densenet":
        state_dict = rename_old_keys(state_dict)  # torchvision's files keep DenseNet's old key names
    load_weights(model, state_dict, f"{member} ({member.url})")
    if module in _KEEPS_AUX and not kwargs.get("aux_logits", _KEEPS_AUX[module]):
        model.aux_logits = False
        for head in _AUX_HEADS:
            if hasattr(model, head):
                setattr(model, head, None)
    return model


def _hub_candidates(filename: str) -> list[str]:
    """The Hub files timm tries for `filename`: its safetensors twin first (`model.safetensors` for
    `pytorch_model.bin`), then the file itself."""
    if filename.endswith(".safetensors"):
        return [filename]
    twin = {"pytorch_model.bin": "model.safetensors", "open_clip_pytorch_model.bin": "open_clip_model.safetensors"}
    safe = twin.get(filename, filename.removesuffix(".bin") + ".safetensors" if filename.endswith(".bin") else None)
    return [safe, filename] if safe else [filename]


def _timm_state_dict(cfg: Any) -> dict[str, Tensor]:
    """The state dict of timm pretrained config `cfg`, from the Hugging Face Hub cache or the torch.hub cache."""
    try:
        import huggingface_hub
        from huggingface_hub.utils import EntryNotFoundError
    except ImportError:
        huggingface_hub = None
    if cfg.hf_hub_id and huggingface_hub is not None:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        for filename in _hub_candidates(cfg.hf_hub_filename or "pytorch_model.bin"):
            try:
                path = huggingface_hub.hf_hub_download(repo, filename=filename, revision=revision or None)
            except EntryNotFoundError:  # also offline and not cached: the next candidate, then the URL
                continue
            except Exception as exc:  # network and HTTP errors of every kind
                raise LiftbenchError(f"could not fetch {filename} of {repo} from the Hugging Face Hub "
                                     f"({type(exc).__name__}: {exc})") from exc
            return read_checkpoint(path)[0]
    if cfg.url:
        return read_published(cfg.url)[0]
    raise LiftbenchError(f"timm publishes no reachable weights for {cfg.architecture}.{cfg.tag}")


def timm_pretrained(name: str, cfg: Any, kwargs: dict[str, Any]) -> nn.Module:
    """timm model `name` with its pretrained weights (config `cfg`) read by liftbench; timm adapts them to `kwargs`
    (e.g. another `num_classes`) as in `timm.create_model(name, pretrained=True)`."""
    import timm

    try:
        state_dict = _timm_state_dict(cfg)
    except UsageError:  # a file that is there but is refused: the message names it
        raise
    except LiftbenchError as exc:
        where = [f"the Hugging Face Hub repository {cfg.hf_hub_id} (cache: $HF_HOME/hub)"] if cfg.hf_hub_id else []
        where += [f"{cfg.url} (place it at {cache_path(cfg.url)})"] if cfg.url else []
        raise LiftbenchError(f"could not load timm's pretrained weights for {name} ({exc}); they come from "
                             f"{' or '.join(where) or 'nowhere known'}: offline, fetch them elsewhere into that "
                             "cache, or pass the file as weights") from exc
    # source "" makes timm take the state dict ahead of any Hub or URL location of the config
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"source": "", "state_dict": state_dict},
                              **kwargs)
    model.pretrained_cfg.pop("state_dict", None)  # the configuration would otherwise keep a second copy
    return model
