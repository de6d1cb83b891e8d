"""The training loop: `Trainer`, one run on one device (one rank of a distributed run), driven by
`training.run.train`.

Loss: cross-entropy with label smoothing (per pixel for masks, ignoring label 255), plus `pooling.lifting_loss`
(LiftPool's constraints; zero for models without LiftDownPool). SGD with momentum, per-step cosine or poly
schedule after a linear warm-up (`training/recipe.py`).
Each epoch's data order is a permutation seeded by `(seed, epoch)`; augmentation and any stochastic layer are
seeded by `(seed, epoch, step, rank)`, so a run resumed from `last.pt` (written atomically every epoch and every
`checkpoint_every` steps, with optimizer, schedule and GradScaler state) ends with the weights of an uninterrupted
run, bit for bit on the CPU. On CUDA: AMP (bf16, fp16 with GradScaler without bf16), channels_last, pinned memory
(the choices of `engine.runner.Engine`). Under torchrun the global batch of every step is split over the ranks
(DistributedDataParallel, gloo on the CPU, nccl on CUDA) and rank 0 writes. `final.pt` carries the metadata the zoo
reads (`models.load_model`), with its sha256 in `final.pt.sha256`.

Divergence: the first step with a non-finite loss is recorded on the device (no per-step synchronisation) and
checked, with the parameters' and buffers' finiteness, before every checkpoint and at the end of every epoch: a
diverged run stops with a `LiftbenchError` naming the step, and never writes a non-finite `last.pt`, `final.pt`
or `log.jsonl` line (the last good `last.pt` stays as it was).
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed
from torch import Tensor, nn
from tqdm.auto import tqdm

from corruptions.seeding import derive_seed
from robustbench_lift.data.segmentation import size_batches
from robustbench_lift.engine.distributed import Distributed
from robustbench_lift.engine.model import PreparedModel
from robustbench_lift.engine.options import RunOptions
from robustbench_lift.engine.runner import Engine
from robustbench_lift.errors import LiftbenchError, UsageError
from robustbench_lift.metrics.segmentation import IGNORE_INDEX
from robustbench_lift.models import save_checkpoint
from robustbench_lift.models.transfer import TransferReport
from robustbench_lift.models.weights import file_sha256, load_data, save_atomically
from robustbench_lift.pooling import lifting_loss
from robustbench_lift.progress import progress
from robustbench_lift.training.init import ModelStart, initial_model
from robustbench_lift.training.recipe import Recipe
from robustbench_lift.training.segmentation import crop_flip_masks
from robustbench_lift.training.sets import TrainSet, crop_flip

LAST, FINAL, LOG = "last.pt", "final.pt", "log.jsonl"
AUGMENTS_OF = {"in-memory set": "crop_flip", "image folder": "resized_crop_flip",
               "segmentation folder": "scale_crop_flip"}
"""The augmentation (`recipe.AUGMENTATIONS`) each kind of training data takes (in-memory sets also `none`)."""
POSTFIX_EVERY = 10
"""Steps between progress-bar updates of loss, accuracy and images/s (each one synchronises the device)."""


def _read_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return load_data(path, "a training checkpoint", "delete it or pass --no-resume")


class Trainer:
    """One training run: model, optimizer, schedule and data on one device (one rank of a distributed run)."""

    def __init__(self, start: ModelStart, data: TrainSet, out_dir: Path, recipe: Recipe, device: torch.device,
                 dist: Distributed, *, workers: int, amp: bool | None, checkpoint_every: int | None, progress: bool,
                 on_transfer: Callable[[TransferReport], None] | None) -> None:
        source = "in-memory set" if data.in_memory else "segmentation folder" if data.dense else "image folder"
        if AUGMENTS_OF[source] != recipe.augment and not (data.in_memory and recipe.augment == "none"):
            raise UsageError(f"augment={recipe.augment} does not apply to {data.name} ({source}): use "
                             f"{AUGMENTS_OF[source]}" + (" or none" if data.in_memory else ""))
        if recipe.batch_size % dist.world_size:
            raise UsageError(f"batch size {recipe.batch_size} does not split over {dist.world_size} ranks: use a "
                             "multiple of the number of processes")
        self.steps = len(data.train) // recipe.batch_size
        if self.steps < 1:
            raise UsageError(f"batch size {recipe.batch_size} exceeds the {len(data.train)} training images")
        if checkpoint_every is not None and checkpoint_every < 1:
            raise UsageError(f"checkpoint_every={checkpoint_every}: expected a number of steps >= 1")
        self.data, self.out_dir, self.recipe, self.device, self.dist = data, out_dir, recipe, device, dist
        self.workers, self.checkpoint_every, self.progress = workers, checkpoint_every, progress and dist.is_main
        self.module, report = initial_model(start, data.num_classes, recipe.seed)
        if report is not None and on_transfer is not None and dist.is_main:
            on_transfer(report)
        meta = self.module.liftbench_meta
        cuda = device.type == "cuda"
        # The engine evaluates the test split; its precision and memory format are also the training ones
        # (training keeps autocast on CUDA by default; evaluation alone defaults to fp32).
        run = RunOptions(batch_size=recipe.batch_size, workers=workers, amp=cuda if amp is None else amp,
                         channels_last=cuda, progress=False)
        self.engine = Engine(PreparedModel(self.module, meta["model"], "", data.num_classes, data.mean, data.std),
                             device, run)
        self.module.train()
        self.model = (nn.parallel.DistributedDataParallel(self.module, device_ids=[device.index] if cuda else None)
                      if dist.active else self.module)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                         weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: recipe.lr_factor(step, self.steps))
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.engine.amp_dtype == torch.float16)
        self.dense = data.dense  # segmentation: per-pixel loss, masks cropped with the images, pixel accuracy
        self.criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing,
                                             **({"ignore_index": IGNORE_INDEX} if self.dense else {}))
        self.identity = {"model": meta["model"], "pool_kwargs": meta["pool_kwargs"], "num_classes": data.num_classes,
                         "dataset": data.name, "weights": meta["weights"],
                         **{key: meta[key] for key in ("transfer", "encoder_weights") if key in meta}}
        self.epoch, self.step, self.sums, self.history = 0, 0, [0.0] * 4, []

    # -- checkpoints ------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                "step": self.step, "sums": self.sums, "history": self.history, "recipe": self.recipe.to_dict(),
                "run": self.identity}

    def save(self) -> None:
        if self.dist.is_main:
            save_atomically(self.state(), self.out_dir / LAST)

    def resume(self) -> None:
        """Continue from `last.pt` (read by rank 0, handed to every rank) if it exists; refuse another run's."""
        path = self.out_dir / LAST
        state = self.dist.from_main(lambda: _read_state(path))
        if state is None:
            return
        stored_recipe = state.get("recipe")
        if isinstance(stored_recipe, dict):  # an earlier version's recipe lacks the fields added since
            stored_recipe = Recipe.from_dict(stored_recipe).to_dict()
        for key, ours, theirs in (("recipe", self.recipe.to_dict(), stored_recipe),
                                  ("run", self.identity, state.get("run"))):
            if theirs != ours:
                theirs = theirs or {}
                diff = {k: (theirs.get(k), ours.get(k)) for k in sorted(ours.keys() | theirs.keys())
                        if theirs.get(k) != ours.get(k)}
                raise UsageError(f"{path} belongs to another run ({key} differs, stored vs requested: {diff}); use "
                                 "another --out, or --no-resume to start over")
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step, self.sums, self.history = state["epoch"], state["step"], state["sums"], state["history"]

    # -- the loop ---------------------------------------------------------------------------------------------

    def check_finite(self, bad_step: Tensor) -> None:
        """Raise when a rank saw a non-finite loss at a step of this epoch (`bad_step` >= 0, 0-based) or holds
        non-finite parameters or buffers: one synchronisation, at checkpoint and epoch boundaries only."""
        tensors = [t.detach() for t in self.module.state_dict().values() if t.is_floating_point()]
        finite = bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
        reports = self.dist.all_gather((int(bad_step), finite))
        steps = [step for step, _ in reports if step >= 0]
        if not steps and all(ok for _, ok in reports):
            return
        where = (f"non-finite loss at epoch {self.epoch + 1}, step {min(steps) + 1} of {self.steps}" if steps else
                 f"non-finite parameters after epoch {self.epoch + 1}, step {self.step} of {self.steps}")
        kept = f"{self.out_dir / LAST} keeps the last finite state" if (self.out_dir / LAST).exists() else \
            "no checkpoint was written"
        raise LiftbenchError(f"training diverged: {where} (lr {self.recipe.lr:g}); {kept}. Lower --lr (or raise "
                             "--warmup-epochs) and start over with --no-resume")

    def train_step(self, images: Tensor, labels: Tensor, seed: int) -> list[Tensor]:
        """One optimizer step; returns `[task loss * n, lifting loss * n, correct, n]` of this rank's batch."""
        torch.manual_seed(seed)  # dropout and any other stochastic layer
        if self.recipe.augment == "crop_flip" and self.dense:
            images, labels = crop_flip_masks(images, labels, torch.Generator().manual_seed(seed),
                                             self.recipe.crop_padding)
        elif self.recipe.augment == "crop_flip":
            images = crop_flip(images, torch.Generator().manual_seed(seed), self.recipe.crop_padding)
        dtype = self.engine.amp_dtype
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = self.model(self.engine.inputs(images)).float()
            task = self.criterion(logits, labels)
            lift = lifting_loss(self.module, self.recipe.lambda_u, self.recipe.lambda_p)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(task + lift).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        count = len(labels)
        correct = (logits.argmax(1) == labels).sum()
        if self.dense:  # the sum over images of each one's pixel accuracy
            valid = labels != IGNORE_INDEX
            correct = ((logits.argmax(1) == labels) & valid).flatten(1).sum(1).div(valid.flatten(1).sum(1)).sum()
        return [task.detach() * count, lift.detach() * count, correct, count]

    def run_epoch(self) -> None:
        recipe, rank, world = self.recipe, self.dist.rank, self.dist.world_size
        order = torch.randperm(len(self.data.train), generator=torch.Generator().manual_seed(
            derive_seed(recipe.seed, self.epoch)))
        batches = [order[s * recipe.batch_size:(s + 1) * recipe.batch_size][rank::world]
                   for s in range(self.step, self.steps)]
        if hasattr(self.data.train.images, "set_epoch"):
            self.data.train.images.set_epoch(self.epoch, recipe)
        sums = [torch.tensor(float(v), device=self.device) for v in self.sums]
        bad_step = torch.tensor(-1, device=self.device)  # first step of this epoch with a non-finite loss
        start, first = time.perf_counter(), self.step
        with progress(self.steps, f"epoch {self.epoch + 1}/{recipe.epochs}", "step", enabled=self.progress,
                      initial=self.step, leave=False) as bar:
            for images, labels in self.data.train.batches(batches, self.device, self.workers):
                values = self.train_step(images, labels, derive_seed(recipe.seed, self.epoch, self.step, rank))
                bad_step = torch.where((bad_step < 0) & ~torch.isfinite(values[0] + values[1]), self.step, bad_step)
                sums = [total + value for total, value in zip(sums, values)]
                self.step += 1
                bar.update()
                if self.checkpoint_every and (self.epoch * self.steps + self.step) % self.checkpoint_every == 0 \
                        and self.step < self.steps:
                    self.check_finite(bad_step)
                    self.sums = [float(v) for v in sums]
                    self.save()
                if self.progress and (self.step % POSTFIX_EVERY == 0 or self.step == self.steps):
                    seen = (self.step - first) * recipe.batch_size
                    task, lift, correct, count = (float(v) for v in sums)
                    bar.set_postfix(loss=f"{(task + lift) / count:.3f}", acc=f"{100 * correct / count:.1f}%",
                                    img_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
        self.check_finite(bad_step)
        task, lift, correct, count = self.all_sum([float(v) for v in sums])
        self.sync_buffers()
        seconds = time.perf_counter() - start
        record = {"epoch": self.epoch + 1, "loss": (task + lift) / count, "lift_loss": lift / count,
                  "train_acc": correct / count, "test_acc": self.test_accuracy(),
                  "lr": self.optimizer.param_groups[0]["lr"], "seconds": seconds,
                  "images_per_s": (self.steps - first) * recipe.batch_size / seconds}
        self.history.append(record)
        self.epoch, self.step, self.sums = self.epoch + 1, 0, [0.0] * 4
        self.save()
        if self.dist.is_main:
            with open(self.out_dir / LOG, "a") as log:
                log.write(json.dumps(record, allow_nan=False) + "\n")
        if self.progress:
            test = "-" if record["test_acc"] is None else f"{100 * record['test_acc']:.2f}%"
            tqdm.write(f"epoch {record['epoch']}/{recipe.epochs}  loss {record['loss']:.4f}  train acc "
                       f"{100 * record['train_acc']:.2f}%  test acc {test}  {record['images_per_s']:.0f} img/s  "
                       f"{seconds:.1f} s")

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of `values` over the ranks, as Python floats (plain data for the checkpoints)."""
        return [float(sum(column)) for column in zip(*self.dist.all_gather(values))]

    def sync_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics (DDP only averages gradients), so all ranks agree."""
        if self.dist.active:
            for buffer in self.module.buffers():
                torch.distributed.broadcast(buffer, 0)

    @torch.inference_mode()
    def test_accuracy(self) -> float | None:
        """Top-1 accuracy on the test split, sharded over the ranks (None without a test split)."""
        test = self.data.test
        if test is None:
            return None
        self.module.eval()
        indices = torch.arange(len(test))[self.dist.rank::self.dist.world_size]
        batches = list(indices.split(self.recipe.batch_size))
        if self.dense and not self.data.in_memory:  # a folder's images differ in size: batches of one size
            sizes = test.images.sizes
            batches = [indices[group] for group in size_batches([sizes[i] for i in indices], self.recipe.batch_size)]
        correct, count = 0, 0
        for images, labels in test.batches(batches, self.device, self.workers):
            if self.dense:  # pixel accuracy: correct over labelled pixels
                counts, _ = self.engine.forward(images, labels)
                correct, count = correct + int(counts[:, 0].sum()), count + int((labels != IGNORE_INDEX).sum())
                continue
            top, _ = self.engine.forward(images)
            correct, count = correct + int((top[:, 0] == labels).sum()), count + len(labels)
        self.module.train()
        right, count = self.all_sum([correct, count])
        return right / count

    def finish(self) -> Path:
        """Write `final.pt` with the zoo metadata and `final.pt.sha256`; return the checkpoint path."""
        path = self.out_dir / FINAL
        if not self.dist.is_main:
            return path
        last = self.history[-1]
        meta = {**self.identity, "mean": list(self.data.mean), "std": list(self.data.std),
                "input_size": self.data.image_size or self.recipe.crop_size, "recipe": self.recipe.to_dict(),
                "precision": self.engine.precision, "world_size": self.dist.world_size,
                "test_acc": last["test_acc"], "train_acc": last["train_acc"], "history": self.history}
        save_checkpoint(self.module, path, meta)
        path.with_name(FINAL + ".sha256").write_text(f"{file_sha256(path)}  {FINAL}\n")
        return path
