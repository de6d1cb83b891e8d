"""The demo models: `demo-<pool>` is `cifar_resnet10s-<pool>` with 10 classes, trained by `liftbench train` on the
built-in demo data set (`robustbench_lift.data.demo`) and shipped inside the package.

`models/demo/manifest.json` lists, per pooling, the checkpoint file next to it, its sha256 (checked on every
load), its clean test accuracy and the exact command that reproduces it (`demo_train_command`). A pooling with
no entry yet has no weights: `create_model("demo-<pool>")` still builds it at random initialisation.

Shipping a newly trained demo model (maintainers): `python -m robustbench_lift.models.demo runs/demo-*/final.pt`
copies each checkpoint here and rewrites its manifest entry from the checkpoint's own metadata.
"""

import functools
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

DEMO_PREFIX = "demo"
DEMO_BACKBONE = "cifar_resnet10s"
DEMO_CLASSES = 10
DEMO_TAG = "demo"
"""The weights tag of a shipped demo checkpoint (`weights="DEFAULT"` picks it)."""
DEMO_DIR = Path(__file__).with_name("demo")
MANIFEST = DEMO_DIR / "manifest.json"


@dataclass(frozen=True)
class DemoWeights:
    """A shipped demo checkpoint: file, sha256, clean accuracy on the demo test split, and how it was made."""

    path: Path
    sha256: str
    test_acc: float
    command: str


def demo_train_command(pool: str, epochs: int, seed: int = 0) -> str:
    """The `liftbench train` command that makes the demo model of `pool` (written into the manifest)."""
    return (f"liftbench train --model {DEMO_PREFIX}-{pool} --data demo --epochs {epochs} --seed {seed} "
            f"--out runs/{DEMO_PREFIX}-{pool}")


@functools.cache
def shipped_demo_weights(manifest: Path | None = None) -> dict[str, DemoWeights]:
    """pool -> its shipped `DemoWeights` (empty when the manifest does not exist yet); `manifest`: the demo
    models' `MANIFEST` (default, read at call time) or the demo segmentation models' (`models/segmentation.py`)."""
    manifest = manifest or MANIFEST
    if not manifest.is_file():
        return {}
    entries = json.loads(manifest.read_text())
    return {pool: DemoWeights(DEMO_DIR / entry["file"], entry["sha256"], entry["test_acc"], entry["command"])
            for pool, entry in entries.items()}


def ship_demo_model(checkpoint: str | Path) -> DemoWeights:
    """Copy a `liftbench train` final checkpoint of a `demo-<pool>` model into the package and record it in the
    manifest (file, sha256, the test accuracy and the reproducing command, from the checkpoint's metadata)."""
    from robustbench_lift.models.weights import file_sha256, read_checkpoint

    _, meta = read_checkpoint(checkpoint)
    model, recipe = meta.get("model", ""), meta.get("recipe", {})
    if not model.startswith(f"{DEMO_PREFIX}-") or meta.get("dataset") != "demo" or meta.get("pool_kwargs"):
        raise ValueError(f"{checkpoint} holds {model or 'an unnamed model'} trained on {meta.get('dataset')}: "
                         "expected a demo-<pool> model with default options trained on the demo data set")
    pool = model.split("-", 1)[1]
    target = DEMO_DIR / f"{model}.pt"
    DEMO_DIR.mkdir(exist_ok=True)
    shutil.copyfile(checkpoint, target)
    entries = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}
    entries[pool] = {"file": target.name, "sha256": file_sha256(target), "test_acc": meta["test_acc"],
                     "command": demo_train_command(pool, recipe["epochs"], recipe["seed"])}
    MANIFEST.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    shipped_demo_weights.cache_clear()
    return shipped_demo_weights()[pool]


if __name__ == "__main__":
    for path in sys.argv[1:]:
        shipped = ship_demo_model(path)
        print(f"{shipped.path.name}: sha256 {shipped.sha256}, test accuracy {shipped.test_acc:.4f}")
