"""Do re-stained nuclei look real? Per-nucleus features and a real-vs-re-stained classifier.

A re-stained positive nucleus should be indistinguishable from a real positive nucleus of the
same slide, and a nucleus whose marker was removed from a real negative one. `realism`
measures both on labelled fields (`restainaug.evaluation.EvalField` with marker status):

* ``added_auc`` - a gradient-boosting classifier over per-nucleus colour, texture and edge
  statistics (`nucleus_features`), 5-fold cross-validated, separating the field's real
  positive nuclei from its negative nuclei after `MarkerToNuclei` made them positive (once
  at each of the 1+, 2+ and 3+ levels). ``0.5``
  means the classifier cannot tell them apart, ``1.0`` that it always can;
* ``removed_auc`` - the same for real negatives against positives after `RemoveMarker`;
* ``glass_delta_e`` - the mean CIEDE2000 colour difference that `RemoveMarker` makes on glass
  (pixels far from any tissue), which should be far below 1 (the just-noticeable difference);
* ``context_auc`` - the context floor: the same classifier on real positives vs real
  negatives over what an edit confined to a nucleus cannot change (`context_features`: the
  optical density of the band around the nucleus and the label's shape). Where the data make
  it high (BCData: labels grown from points, positives in darker surroundings) the added AUC
  cannot go much below it, so read the two together;
* DAB statistics of real, added and removed nuclei (mean and spread of the DAB optical
  density inside each nucleus, and the G - B balance of their colour).

The classifier needs scikit-learn (``pip install "restainaug[eval]"``).
"""

from .features import (
    CONTEXT_FEATURES,
    FEATURES,
    context_features,
    dab_stats,
    glass_delta_e,
    glass_mask,
    nucleus_features,
)
from .scores import RealismScores, classifier_auc, realism

__all__ = [
    "CONTEXT_FEATURES",
    "FEATURES",
    "RealismScores",
    "classifier_auc",
    "context_features",
    "dab_stats",
    "glass_delta_e",
    "glass_mask",
    "nucleus_features",
    "realism",
]
