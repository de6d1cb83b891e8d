"""One-line notes that say what a results frame's numbers are: the numeric precision of its cells, and how the
clean cells behind relative mCE were read. Printed under `liftbench evaluate`'s summary and in the report's
header."""

import pandas as pd


def precision_note(frame: pd.DataFrame) -> str:
    """The numeric precision of the cells of a results frame (fingerprint key "precision": fp32, fp32+tf32, bf16
    or fp16; "unrecorded" without it): one value, or `model value` per model when the models differ."""
    found = frame["fingerprint"].map(lambda f: f.get("precision", "unrecorded"))
    per_model = found.groupby(frame["model"], sort=False).agg(lambda s: "/".join(sorted(set(s))))
    if per_model.nunique() == 1:
        return str(per_model.iloc[0])
    return ", ".join(f"{model} {precision}" for model, precision in per_model.items())


def clean_read_note(frame: pd.DataFrame) -> str | None:
    """What the clean cells of released ImageNet-C trees were read at, when not ImageNet-C's `test.py` protocol
    (their fingerprints record the resize, crop and interpolation only then; `suites.base.read_as`): relative mCE
    uses that clean error. None when every such cell was read as `test.py` read it, or there is none."""
    released = frame.loc[frame["fingerprint"].map(lambda f: f.get("source") == "imagenet-c"), ["model", "dataset"]]
    pairs = set(map(tuple, released.to_numpy()))
    reads = {}
    for model, dataset, corruption, fingerprint in zip(frame["model"], frame["dataset"], frame["corruption"],
                                                       frame["fingerprint"]):
        keys = {"resize", "input_size", "interpolation", "crop_mode"} & set(fingerprint)
        if corruption == "clean" and (model, dataset) in pairs and keys:
            reads[model] = (f"Resize {fingerprint.get('resize', 256)}, crop {fingerprint.get('input_size', 224)}, "
                            f"{fingerprint.get('interpolation', 'bilinear')}")
    if not reads:
        return None
    where = "; ".join(f"{model}: {read}" for model, read in reads.items())
    return (f"clean error read at the model's own preprocessing ({where}); relative mCE uses it, while ImageNet-C's "
            "test.py read clean images at Resize 256 + CenterCrop 224 (pass --clean-protocol release for that)")
