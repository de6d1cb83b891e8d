"""The procedural demo set: deterministic to the byte, every image regenerable alone, balanced, splits disjoint."""

import hashlib

import pytest
import torch

from robustbench_lift.data.demo import CLASSES, SPLITS, demo_dataset, render_shapes


def test_same_seed_same_bytes_other_seed_other_images():
    first, labels = demo_dataset("test", limit=40)
    again, labels_again = demo_dataset("test", limit=40)
    assert first.dtype == torch.uint8 and first.shape == (40, 3, 32, 32) and labels.dtype == torch.int64
    assert hashlib.sha256(first.numpy().tobytes()).digest() == hashlib.sha256(again.numpy().tobytes()).digest()
    assert torch.equal(labels, labels_again)
    other, _ = demo_dataset("test", limit=40, seed=1)
    assert not any(torch.equal(a, b) for a in first for b in other)


def test_one_image_regenerated_alone_equals_it_inside_the_batch():
    images, labels = demo_dataset("test", limit=30)
    # Image i of split s with seed k is drawn from the seed (k * len(SPLITS) + s) * 10**7 + i (the documented layout).
    index, split_index = 17, SPLITS["test"][1]
    alone = render_shapes(torch.tensor([split_index * 10_000_000 + index]), labels[index:index + 1])
    assert torch.equal(alone[0], images[index])


@pytest.mark.parametrize("split", ["train", "test"])
def test_classes_are_balanced_exactly(split):
    _, labels = demo_dataset(split, size=16)  # labels do not depend on the size; 16 px renders 4x faster
    assert len(labels) == SPLITS[split][0]
    assert torch.bincount(labels, minlength=len(CLASSES)).tolist() == [SPLITS[split][0] // len(CLASSES)] * 10


def test_limit_is_a_prefix_of_the_split_and_copies_are_independent():
    images, labels = demo_dataset("test", size=16)
    first, first_labels = demo_dataset("test", limit=100, size=16)
    assert torch.equal(first, images[:100]) and torch.equal(first_labels, labels[:100])
    first.zero_()  # the cache hands out copies
    assert torch.equal(demo_dataset("test", limit=100, size=16)[0], images[:100])


def test_train_and_test_share_no_image():
    train, _ = demo_dataset("train", limit=500, size=16)
    test, _ = demo_dataset("test", limit=500, size=16)
    train_hashes = {hashlib.sha256(image.numpy().tobytes()).digest() for image in train}
    assert not train_hashes & {hashlib.sha256(image.numpy().tobytes()).digest() for image in test}
    assert len(train_hashes) == 500
