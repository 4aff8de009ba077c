"""Thin adapters of `restainaug.RestainTransform` for training frameworks.

Each lives in its own module and imports its framework only when used:

* `restainaug.adapters.monai` - ``RestainTransformd`` (dictionary transform);
* `restainaug.adapters.torchvision` - ``RestainTransformV2`` for ``transforms.v2``;
* `restainaug.adapters.kornia` - ``RandomRestain`` for ``AugmentationSequential``;
* `restainaug.adapters.stardist` - ``augmenter()`` for StarDist/Keras training.
"""
