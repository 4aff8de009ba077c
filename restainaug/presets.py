"""Named re-staining policies: the default policy, and the presets of ``restainaug generate``.

Every policy is built here from the same pieces, each defined once: the marker levels of new
marker, the nuclear and membrane patterns, and the counterstain variation that ends every
policy. ``default_policy`` is also importable from `restainaug` and `restainaug.policy`.
"""

from __future__ import annotations

from collections.abc import Callable

from .ops import (
    MARKER_LEVELS,
    ChannelAffine,
    Identity,
    MarkerToMembranes,
    MarkerToNuclei,
    NuclearStrength,
    Op,
    RemoveMarker,
)
from .policy import OneOf, Sequential
from .spaces import Choice, LogUniform

__all__ = ["POLICIES", "default_policy", "policy_preset"]


def _levels() -> Choice:
    """New marker at the 1+, 2+ or 3+ level of `MARKER_LEVELS`."""
    return Choice((MARKER_LEVELS["1+"], MARKER_LEVELS["2+"], MARKER_LEVELS["3+"]))


def _nuclear() -> tuple[Op, ...]:
    """A nuclear marker (Ki67, ER, p53): removed, then 5-80 % of nuclei positive."""
    return RemoveMarker(), MarkerToNuclei(fraction=(0.05, 0.8), intensity=_levels())


def _membrane() -> tuple[Op, ...]:
    """A membrane marker (HER2, E-cadherin): removed, then 20-100 % of membranes positive."""
    return RemoveMarker(), MarkerToMembranes(fraction=(0.2, 1.0), intensity=_levels())


def _counterstain() -> tuple[Op, ...]:
    """Nuclear-stain strength inside nuclei 0.6-1.6x (p 0.8) and overall 0.8-1.25x (p 0.3)."""
    return (
        NuclearStrength(LogUniform(0.6, 1.6), p=0.8),
        ChannelAffine("nuclear", scale=LogUniform(0.8, 1.25), p=0.3),
    )


def default_policy(marker: bool = True) -> Op:
    """The default policy: one labelled field -> diverse, plausible re-stained variants.

    Per sample, one marker pattern is chosen:

    | branch                              | weight | what it simulates                          |
    |-------------------------------------|--------|--------------------------------------------|
    | keep the marker                     | 0.10   | the slide as stained                       |
    | scale the marker by 0.4-2x          | 0.20   | weaker / stronger staining, same marker    |
    | remove the marker                   | 0.20   | a marker-negative slide ("0")              |
    | remove, then 5-80 % nuclei positive | 0.35   | a nuclear marker (Ki67, ER, p53)           |
    | remove, then 20-100 % membranes     | 0.15   | a membrane marker (HER2, E-cadherin)       |

    New marker comes at the 1+, 2+ or 3+ level of `restainaug.ops.MARKER_LEVELS`, with
    30 % variation between objects. Then the counterstain varies: nuclear-stain strength
    inside nuclei 0.6-1.6x (probability 0.8) and overall 0.8-1.25x (probability 0.3).

    Args:
        marker: whether the translator has a marker channel; without one only the
            counterstain operations remain.

    Returns:
        The policy (a `Sequential`).

    Examples:
        >>> from restainaug.policy import roles_needed
        >>> sorted(roles_needed(default_policy()))
        ['marker', 'nuclear']
    """
    if not marker:
        return Sequential(*_counterstain())
    patterns = OneOf(
        Identity(),
        ChannelAffine("marker", scale=LogUniform(0.4, 2.0)),
        RemoveMarker(),
        Sequential(*_nuclear()),
        Sequential(*_membrane()),
        weights=(0.10, 0.20, 0.20, 0.35, 0.15),
    )
    return Sequential(patterns, *_counterstain())


#: Builders of the named policies, called with whether the model has a marker channel.
POLICIES: dict[str, Callable[[bool], Op]] = {
    "default": default_policy,
    "nuclear": lambda marker: Sequential(*_nuclear(), *_counterstain()),
    "membrane": lambda marker: Sequential(*_membrane(), *_counterstain()),
    "remove": lambda marker: Sequential(RemoveMarker(), *_counterstain()),
    "counterstain": lambda marker: Sequential(*_counterstain()),
}


def policy_preset(name: str, marker: bool = True) -> Op:
    """The named policy ``name`` (a key of `POLICIES`).

    | name             | marker                                              |
    |------------------|-----------------------------------------------------|
    | ``default``      | `default_policy`: every pattern                     |
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
