"""Named re-staining policies for `restainaug generate` and custom pipelines.

Each preset is one marker pattern followed by the counterstain variation of
`restainaug.policy.default_policy`; ``"default"`` is that policy itself.
"""

from __future__ import annotations

from collections.abc import Callable

from .ops import MARKER_LEVELS, MarkerToMembranes, MarkerToNuclei, Op, RemoveMarker
from .policy import Sequential, default_policy
from .spaces import Choice

__all__ = ["POLICIES", "policy_preset"]


def _counterstain() -> tuple[Op, ...]:
    return default_policy(marker=False).children


def _levels() -> Choice:
    return Choice((MARKER_LEVELS["1+"], MARKER_LEVELS["2+"], MARKER_LEVELS["3+"]))


#: Builders of the named policies, called with whether the model has a marker channel.
POLICIES: dict[str, Callable[[bool], Op]] = {
    "default": lambda marker: default_policy(marker),
    "nuclear": lambda marker: Sequential(
        RemoveMarker(), MarkerToNuclei(fraction=(0.05, 0.8), intensity=_levels()), *_counterstain()
    ),
    "membrane": lambda marker: Sequential(
        RemoveMarker(),
        MarkerToMembranes(fraction=(0.2, 1.0), intensity=_levels()),
        *_counterstain(),
    ),
    "remove": lambda marker: Sequential(RemoveMarker(), *_counterstain()),
    "counterstain": lambda marker: Sequential(*_counterstain()),
}


def policy_preset(name: str, marker: bool = True) -> Op:
    """The named policy ``name`` (a key of `POLICIES`).

    | name             | marker                                              |
    |------------------|-----------------------------------------------------|
    | ``default``      | `restainaug.policy.default_policy`: every pattern   |
    | ``nuclear``      | removed, then 5-80 % of nuclei positive at 1+/2+/3+ |
    | ``membrane``     | removed, then 20-100 % of membranes at 1+/2+/3+     |
    | ``remove``       | removed (a marker-negative slide)                   |
    | ``counterstain`` | kept                                                |

    Every preset then varies the counterstain as the default policy does: nuclear-stain
    strength inside nuclei 0.6-1.6x (probability 0.8) and overall 0.8-1.25x (probability
    0.3). Marker levels are those of `restainaug.ops.MARKER_LEVELS`. ``nuclear`` moves a
    membrane marker onto nuclei (HER2 -> Ki67-like), ``membrane`` the other way.

    Args:
        name: the preset.
        marker: whether the translator has a marker channel; without one only ``default``
            (which then keeps the counterstain step) and ``counterstain`` apply.

    Returns:
        A fresh operation tree.

    Raises:
        ValueError: for an unknown name, or a marker preset without a marker channel.

    Examples:
        >>> policy_preset("remove")
        Sequential(RemoveMarker(...), NuclearStrength(...), ChannelAffine(...), p=1.0)
    """
    if name not in POLICIES:
        raise ValueError(f"policy: expected one of {sorted(POLICIES)} or an Op, got {name!r}.")
    if not marker and name not in ("default", "counterstain"):
        raise ValueError(
            f"policy {name!r} changes the marker, but the model has no marker channel; use "
            "'counterstain' or 'default'."
        )
    return POLICIES[name](marker)
