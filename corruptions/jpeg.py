"""Saving as the released ImageNet-C did: each corrupted image JPEG-encoded and decoded with Pillow.

make_imagenet_c.py (hendrycks/robustness, also make_tinyimagenet_c.py and make_imagenet_64_c.py) wrote every
corrupted image as `Image.fromarray(np.uint8(img)).save(path, quality=85, optimize=True)`: 8-bit values (its
float corruptions truncated by `np.uint8`; ours are already uint8), JPEG at quality 85 with Pillow's defaults
(4:2:0 chroma subsampling, standard tables; `optimize` only re-codes the Huffman tables, the pixels read back are
the same). `jpeg_roundtrip` does that and reads the file back, so an on-the-fly cell sees what a model reading
the release sees. Pillow, not torchvision's or nvjpeg's encoder, because its output is what the release holds,
bit for bit; it runs on the CPU, one image at a time (a codec has no batched form), and returns to the input's
device. CIFAR-10-C was saved as uint8 arrays (`np.save`), never as JPEG.
"""

import io

import numpy as np
import torch
from PIL import Image
from torch import Tensor

RELEASE_QUALITY = 85
"""JPEG quality of the released ImageNet-C, Tiny-ImageNet-C and ImageNet-64x64-C images (make_*_c.py)."""


def jpeg_roundtrip(images: Tensor, quality: int = RELEASE_QUALITY) -> Tensor:
    """uint8 `(B, 3, H, W)` -> uint8 `(B, 3, H, W)` on the same device: each image saved as JPEG at `quality`
    (1-95, Pillow's scale) with Pillow and decoded again.

        >>> x = torch.full((1, 3, 16, 16), 128, dtype=torch.uint8)
        >>> jpeg_roundtrip(x).equal(x)       # a flat grey survives JPEG exactly
        True
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"jpeg_roundtrip takes uint8 (B, 3, H, W) images, got {images.dtype} {tuple(images.shape)}")
    out = []
    for image in images.permute(0, 2, 3, 1).cpu().numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality, optimize=True)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out.append(np.asarray(decoded.convert("RGB")))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(images.device)
