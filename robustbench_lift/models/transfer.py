"""Load a checkpoint into a (pooling-swapped) model wherever names and shapes match, with a report.

The typical use: ImageNet weights of the original architecture into its `swap_pooling` form, to fine-tune with
LiftPool. The swap keeps every state-dict key (`models/swap.py`), so the original's tensors load by name and the
pools' own parameters keep their initialisation (LiftPool: zero 1x1 weights, a fresh pool is the lazy wavelet).
A checkpoint of the swapped model itself loads completely. Tensors whose shapes differ (a new classifier head)
are not loaded and are reported.

    >>> from torchvision.models import resnet18
    >>> from robustbench_lift.models.swap import swap_pooling
    >>> swapped = resnet18()
    >>> _ = swap_pooling(swapped, "lift")
    >>> report = transfer_weights(swapped, resnet18().state_dict())   # or a checkpoint file "resnet18-f37072fd.pth"
    >>> print(report.format())
    state dict: loaded 122 tensors, 28 new pooling tensors at their initialisation, 0 missing, 0 unexpected, ...
      new (pooling, initialised): layer2.0.conv1.pool.predictor.depthwise, ... and 22 more
    >>> report.complete                  # everything but the new pools loaded: the original model, exactly
    True
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from robustbench_lift.models.weights import read_checkpoint

_SHOWN = 6


@dataclass(frozen=True)
class TransferReport:
    """What `transfer_weights` did; every key is a state-dict key of the model or of the checkpoint.

    Attributes:
        loaded: model keys set from the checkpoint.
        new: keys of the pools `swap_pooling` added that the checkpoint lacks: they keep their initialisation.
        missing: other model keys the checkpoint lacks (also left at their initialisation).
        unexpected: checkpoint keys the model does not have (ignored).
        mismatched: `(key, checkpoint shape, model shape)` of same-named tensors of another shape (not loaded).
        source: where the checkpoint came from, for messages.
    """

    loaded: tuple[str, ...]
    new: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    source: str = "state dict"

    @property
    def complete(self) -> bool:
        """Everything loaded but the swap's new pooling parameters: the original model, exactly."""
        return not (self.missing or self.unexpected or self.mismatched)

    def format(self) -> str:
        """A few lines: counts, then the keys of each kind (the first few of each)."""
        def listing(keys: list[str]) -> str:
            more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            return ", ".join(keys[:_SHOWN]) + more

        lines = [(f"{self.source}: loaded {len(self.loaded)} tensors, {len(self.new)} new pooling tensors at "
                  f"their initialisation, {len(self.missing)} missing, {len(self.unexpected)} unexpected, "
                  f"{len(self.mismatched)} of another shape")]
        kinds = {"new (pooling, initialised)": list(self.new), "missing (kept initialised)": list(self.missing),
                 "unexpected (ignored)": list(self.unexpected),
                 "other shape (kept initialised)": [f"{key} {tuple(theirs)} in the checkpoint vs {tuple(ours)}"
                                                    for key, theirs, ours in self.mismatched]}
        lines += [f"  {label}: {listing(keys)}" for label, keys in kinds.items() if keys]
        return "\n".join(lines)


def _pool_prefixes(model: nn.Module) -> tuple[str, ...]:
    swap = getattr(model, "liftbench_swap", None)
    return tuple(f"{site.pool_path}." for site in swap.sites) if swap is not None else ()


def transfer_weights(model: nn.Module, weights: Mapping[str, Tensor] | str | Path,
                     source: str | None = None) -> TransferReport:
    """Copy every tensor of `weights` whose name and shape match into `model`; report the rest.

    Args:
        model: the model to load into (typically `swap_pooling`'s result), changed in place.
        weights: a state dict, or a checkpoint file (`read_checkpoint`: a bare state dict or `save_checkpoint`'s
            format; `module.` / `_orig_mod.` prefixes stripped).
        source: name of the checkpoint in the report (default: the path, or "state dict").

    Loading goes through `model.load_state_dict(strict=False)`, so the modules' own load hooks run (e.g. a
    BatchNorm checkpoint without `num_batches_tracked`).
    """
    if not isinstance(weights, Mapping):
        source = source or f"checkpoint {weights}"
        weights, _ = read_checkpoint(weights)
    expected = model.state_dict()
    mismatched = tuple((key, tuple(value.shape), tuple(expected[key].shape)) for key, value in weights.items()
                       if key in expected and value.shape != expected[key].shape)
    skipped = {key for key, _, _ in mismatched}
    result = model.load_state_dict({k: v for k, v in weights.items() if k not in skipped}, strict=False)
    unexpected = set(result.unexpected_keys)
    absent = [key for key in result.missing_keys if key not in skipped]
    pools = _pool_prefixes(model)
    return TransferReport(
        loaded=tuple(sorted(key for key in weights if key not in skipped and key not in unexpected)),
        new=tuple(sorted(key for key in absent if key.startswith(pools))) if pools else (),
        missing=tuple(sorted(key for key in absent if not pools or not key.startswith(pools))),
        unexpected=tuple(sorted(unexpected)), mismatched=mismatched, source=source or "state dict")
