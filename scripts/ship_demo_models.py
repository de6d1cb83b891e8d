"""Ship newly trained demo models (maintainers): copy `liftbench train` final checkpoints of `demo-<pool>` models
into the package (`robustbench_lift/models/demo/`) and rewrite their manifest entries.

    python scripts/ship_demo_models.py runs/demo-*/final.pt
"""

import json
import shutil
import sys
from pathlib import Path

from robustbench_lift.models import demo
from robustbench_lift.models.demo import DemoWeights
from robustbench_lift.models.weights import file_sha256, read_checkpoint


def ship_demo_model(checkpoint: str | Path) -> DemoWeights:
    """Copy a `liftbench train` final checkpoint of a `demo-<pool>` model into the package and record it in the
    manifest (file, sha256, the test accuracy and the reproducing command, from the checkpoint's metadata)."""
    _, meta = read_checkpoint(checkpoint)
    model, recipe = meta.get("model", ""), meta.get("recipe", {})
    if not model.startswith(f"{demo.DEMO_PREFIX}-") or meta.get("dataset") != "demo" or meta.get("pool_kwargs"):
        raise ValueError(f"{checkpoint} holds {model or 'an unnamed model'} trained on {meta.get('dataset')}: "
                         "expected a demo-<pool> model with default options trained on the demo data set")
    pool = model.split("-", 1)[1]
    target = demo.DEMO_DIR / f"{model}.pt"
    demo.DEMO_DIR.mkdir(exist_ok=True)
    shutil.copyfile(checkpoint, target)
    entries = json.loads(demo.MANIFEST.read_text()) if demo.MANIFEST.is_file() else {}
    entries[pool] = {"file": target.name, "sha256": file_sha256(target), "test_acc": meta["test_acc"],
                     "command": demo.demo_train_command(pool, recipe["epochs"], recipe["seed"])}
    demo.MANIFEST.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    demo.shipped_demo_weights.cache_clear()
    return demo.shipped_demo_weights()[pool]


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/ship_demo_models.py runs/demo-<pool>/final.pt ...")
    for path in sys.argv[1:]:
        shipped = ship_demo_model(path)
        print(f"{shipped.path.name}: sha256 {shipped.sha256}, test accuracy {shipped.test_acc:.4f}")
