"""How well a translator separates the stains of real, labelled IHC, next to ``optical``.

`evaluate` runs one translator over labelled fields (`EvalField`) and scores each field
(one `FieldScores` row):

* ``nuclear_auc`` - the predicted nuclear channel as a score for nucleus vs other pixels
  (truth: labels > 0, marker-positive nuclei included); ROC AUC, threshold-free;
* ``otsu_dice`` - Dice of the nuclear channel's Otsu foreground with labels > 0;
* ``marker_auc`` - the mean of the predicted marker channel over each nucleus (or each cell,
  when the field has cells) as a score for marker-positive vs negative nuclei (needs the
  marker status; ``nan`` with one class);
* ``nuclear_r``, ``marker_r`` - Pearson correlation of the predicted nuclear and marker
  channels with the real IF channels, where the field has them;
* ``cycle_ssim``, ``cycle_psnr`` - the round trip IHC -> IF -> IHC against the input;
* ``stability_dice`` - Dice of the Otsu nuclear masks of ``to_if(x)`` and
  ``to_if(restained x)``, mean over seeded `RestainTransform` variants (default policy).

`reference` scores the real IF channels themselves (the ``"real IF"`` row); `compare` runs
several models and always includes ``optical``. The package, one idea per module:

* `restainaug.evaluation.fields` - `EvalField`, one labelled field;
* `restainaug.evaluation.sources` - fields from data sets: `deepliif_fields`, `synth_fields`,
  `folder_fields`, `point_fields`, and `load_fields` by name;
* `restainaug.evaluation.scoring` - `evaluate`, `reference`, `compare`;
* `restainaug.evaluation.report` - `FieldScores` rows and the `EvalReport` that holds them;
* `restainaug.evaluation.metrics` - the metrics, on plain numpy arrays;
* `restainaug.evaluation.points` - `point_detection`: predicted nuclei scored at nucleus
  centre points (detection F1, recall of marker-positive and negative nuclei);
* `restainaug.evaluation.realism` - do re-stained nuclei look real (needs scikit-learn).

Every name listed below is importable from here.
"""

from __future__ import annotations

from .fields import EvalField
from .points import PointScores, point_detection
from .report import METRICS, REFERENCE, EvalReport, FieldScores
from .scoring import compare, evaluate, reference
from .sources import deepliif_fields, folder_fields, load_fields, point_fields, synth_fields

__all__ = [
    "METRICS",
    "REFERENCE",
    "EvalField",
    "EvalReport",
    "FieldScores",
    "PointScores",
    "compare",
    "deepliif_fields",
    "evaluate",
    "folder_fields",
    "load_fields",
    "point_detection",
    "point_fields",
    "reference",
    "synth_fields",
]
