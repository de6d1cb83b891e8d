"""Ship trained demo segmentation models: copy `liftbench train` checkpoints of `demo_seg-<pool>` (trained on
`--data demo-seg`) into `robustbench_lift/models/demo/` and record file, sha256, test pixel accuracy and the
reproducing command in `manifest_seg.json` (`models.segmentation.DEMO_SEG_MANIFEST`).

    python scripts/ship_demo_seg.py runs/demo_seg-max/final.pt runs/demo_seg-lift/final.pt
"""

import json
import shutil
import sys
from pathlib import Path

from robustbench_lift.models.demo import shipped_demo_weights
from robustbench_lift.models.segmentation import DEMO_SEG_MANIFEST
from robustbench_lift.models.weights import file_sha256, read_checkpoint
from robustbench_lift.training.segmentation import DEMO_SEG


def ship(checkpoint: Path) -> str:
    """Copy one checkpoint into the package and rewrite its manifest entry; returns a one-line summary."""
    _, meta = read_checkpoint(checkpoint)
    model, recipe = meta.get("model", ""), meta.get("recipe", {})
    if not model.startswith("demo_seg-") or meta.get("dataset") != DEMO_SEG or meta.get("pool_kwargs"):
        raise SystemExit(f"{checkpoint} holds {model or 'an unnamed model'} trained on {meta.get('dataset')}: "
                         f"expected a demo_seg-<pool> model with default options trained on {DEMO_SEG}")
    pool = model.split("-", 1)[1]
    target = DEMO_SEG_MANIFEST.with_name(f"{model}.pt")
    shutil.copyfile(checkpoint, target)
    entries = json.loads(DEMO_SEG_MANIFEST.read_text()) if DEMO_SEG_MANIFEST.is_file() else {}
    entries[pool] = {"file": target.name, "sha256": file_sha256(target), "test_acc": meta["test_acc"],
                     "command": f"liftbench train --model {model} --data {DEMO_SEG} --epochs {recipe['epochs']} "
                                f"--seed {recipe['seed']} --out runs/{model}"}
    DEMO_SEG_MANIFEST.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    shipped_demo_weights.cache_clear()
    return f"{target.name}: sha256 {entries[pool]['sha256']}, test pixel accuracy {meta['test_acc']:.4f}"


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(ship(Path(path)))
