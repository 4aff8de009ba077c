"""IF-channel operations: the paper's "simple mathematical operations" on separated stains.

Each operation is deterministic given its parameters: ``op.apply(x, params, ctx)`` with
``x`` the IF batch ``(B, C, H, W)`` and ``params`` a dict of per-sample tensors whose
distributions ``op.param_space()`` declares. Drawing happens elsewhere, in
`restainaug.params.sample_params`, so any draw can be replayed on the same or other data.

Channels are addressed by role (``"nuclear"``, ``"marker"``) or index. Operations that place
marker on nuclei, membranes or cytoplasm find nuclei in the instance labels when given, else
in the nuclear channel of the unperturbed IF image (see `restainaug.context.IFContext`).

Intensities are on the nominal IF scale where ``1`` is strong staining; the named marker
levels are `MARKER_LEVELS`.

Modules:

* `restainaug.ops.base` - the contract, `Op`;
* `restainaug.ops.channel` - `Identity`, `ChannelAffine`, `NuclearStrength`, `RemoveMarker`;
* `restainaug.ops.marker` - `MARKER_LEVELS`, `MarkerToNuclei`, `MarkerToMembranes`,
  `MarkerToCytoplasm`.

Every name is importable from ``restainaug.ops``, and so is `IFContext` (which lives in
`restainaug.context`).
"""

from __future__ import annotations

from ..context import IFContext
from ..params import Params
from .base import Op
from .channel import ChannelAffine, Identity, NuclearStrength, RemoveMarker
from .marker import MARKER_LEVELS, MarkerToCytoplasm, MarkerToMembranes, MarkerToNuclei

__all__ = [
    "MARKER_LEVELS",
    "ChannelAffine",
    "IFContext",
    "Identity",
    "MarkerToCytoplasm",
    "MarkerToMembranes",
    "MarkerToNuclei",
    "NuclearStrength",
    "Op",
    "Params",
    "RemoveMarker",
]
