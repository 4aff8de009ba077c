"""Data readers: images, label images, DeepLIIF panels, multiplexed fluorescence, datasets.

Not imported by ``import restainaug``; use ``import restainaug.data``. Needs Pillow; reads
TIFFs with ``tifffile`` (plus ``imagecodecs`` for LZW/JPEG-compressed ones) when installed,
and with Pillow otherwise.

* `read_image`, `read_stack`, `read_labels`, `write_image`, `write_labels`, `write_plane` -
  files <-> numpy;
* `pair_folders`, `Pair`, `UnmatchedFilesError` - image / label file pairs by name;
* `read_deepliif`, `DeepLIIFField`, `segmentation_to_instances` - DeepLIIF training panels;
* `estimate_shift`, `crop_shifted` - lining up panels of one field (DeepLIIF registration);
* `read_multiplex`, `IFImage`, `percentile_normalize`, `gaussian_smooth` - fluorescence;
* `UnpairedPatches`, `LabelledIHC` - torch datasets for CycleGAN fitting and segmentation.
"""

from __future__ import annotations

from .datasets import LabelledIHC, UnpairedPatches
from .deepliif import DeepLIIFField, read_deepliif, segmentation_to_instances
from .folders import LABEL_SUFFIXES, Pair, UnmatchedFilesError, pair_folders
from .ifimage import IFImage, gaussian_smooth, percentile_normalize
from .io import (
    IMAGE_SUFFIXES,
    read_image,
    read_labels,
    read_size,
    read_stack,
    write_image,
    write_labels,
    write_plane,
)
from .multiplex import perkinelmer_name, read_multiplex
from .register import crop_shifted, estimate_shift

__all__ = [
    "IMAGE_SUFFIXES",
    "LABEL_SUFFIXES",
    "DeepLIIFField",
    "IFImage",
    "LabelledIHC",
    "Pair",
    "UnmatchedFilesError",
    "UnpairedPatches",
    "crop_shifted",
    "estimate_shift",
    "gaussian_smooth",
    "pair_folders",
    "percentile_normalize",
    "perkinelmer_name",
    "read_deepliif",
    "read_image",
    "read_labels",
    "read_multiplex",
    "read_size",
    "read_stack",
    "segmentation_to_instances",
    "write_image",
    "write_labels",
    "write_plane",
]
