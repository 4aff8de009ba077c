"""The inputs of the identity terms between 3-channel IHC and C-channel IF (``optim.identity``).

CycleGAN's identity terms ask each generator to leave an image of its own output domain
alone: ``G_A(idt_if) ~ b`` and ``G_B(idt_ihc) ~ a`` (Zhu et al., 2017, Sec. 5.2). Between
IHC and IF the two domains differ in channels, so the inputs are:

* ``"same"`` (the reference; needs C = 3): ``idt_if = b`` and ``idt_ihc = a``;
* ``"optical"`` (``"auto"`` when C != 3): the other domain's image is first converted by the
  analytic Beer-Lambert model, `restainaug.stains.OpticalTranslator`:
  ``idt_if = optical_ihc(b)`` and ``idt_ihc = optical_if(a)`` (see `identity_inputs`).
  Like the reference term it keeps colours where they belong, and it ties the nuclear
  channel to hematoxylin and the marker channel to DAB;
* ``"none"``: no identity terms.

Images are on the networks' ``[-1, 1]`` scale; one unit of optical density is ``scale`` on
the IF channels' nominal scale (``optim.optical_scale``).
"""

from __future__ import annotations

import torch

from ..stains import OpticalTranslator

__all__ = ["identity_inputs", "identity_mode"]


def identity_mode(requested: str, channels: int) -> str:
    """``optim.identity`` for an IF domain of ``channels`` channels (``"auto"`` resolved).

    Raises:
        ValueError: for ``"same"`` with an IF domain that is not 3-channel.

    Examples:
        >>> identity_mode("auto", 2), identity_mode("auto", 3)
        ('optical', 'same')
    """
    mode = requested
    if mode == "auto":
        mode = "same" if channels == 3 else "optical"
    if mode == "same" and channels != 3:
        raise ValueError(
            f"optim.identity='same' needs a 3-channel IF domain, the data have {channels} "
            "channels; use 'optical' or 'none'."
        )
    return mode


def identity_inputs(
    mode: str,
    ihc: torch.Tensor,
    if_: torch.Tensor,
    optical: OpticalTranslator,
    nuclear: int,
    marker: int | None,
    scale: float,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The inputs ``(idt_if, idt_ihc)`` of ``G_A`` and ``G_B`` for the identity terms.

    Args:
        mode: ``"same"``, ``"optical"`` or ``"none"`` (see `identity_mode`).
        ihc: the IHC batch ``a``, ``(B, 3, H, W)`` in ``[-1, 1]``.
        if_: the IF batch ``b``, ``(B, C, H, W)`` in ``[-1, 1]``.
        optical: the analytic translator of the ``"optical"`` mode.
        nuclear: index of the nuclear channel of ``if_``.
        marker: index of the marker channel of ``if_``, or ``None``.
        scale: IF value of one unit of optical density.

    Returns:
        ``G_A``'s input (its output should equal ``if_``) and ``G_B``'s (its output should
        equal ``ihc``); ``(None, None)`` for ``"none"``. In the ``"optical"`` mode, ``G_A``'s
        input is the IHC that ``optical`` renders from the nuclear and marker channels
        (residual zero), ``G_B``'s the IF made of the IHC's hematoxylin and DAB amounts
        (other channels zero, clipped to the IF range).

    Examples:
        >>> from restainaug.stains import OpticalTranslator
        >>> optical = OpticalTranslator(residual="absolute")
        >>> b = torch.rand(1, 2, 8, 8) * 1.6 - 1
        >>> a = torch.zeros(1, 3, 8, 8)
        >>> rendered, _ = identity_inputs("optical", a, b, optical, 0, 1, 1.5)
        >>> _, back = identity_inputs("optical", rendered, b, optical, 0, 1, 1.5)
        >>> bool((back - b).abs().max() < 1e-4)
        True
    """
    if mode == "same":
        return if_, ihc
    if mode != "optical":
        return None, None
    v = (if_.float() + 1) / 2 / float(scale)
    amounts = torch.zeros(if_.shape[0], 3, *if_.shape[2:], device=if_.device)
    amounts[:, 0] = v[:, nuclear]
    if marker is not None:
        amounts[:, 1] = v[:, marker]
    rendered = optical.to_ihc(amounts) * 2 - 1
    c = optical.to_if((ihc.float() + 1) / 2)
    out = torch.zeros(ihc.shape[0], if_.shape[1], *ihc.shape[2:], device=ihc.device)
    out[:, nuclear] = c[:, 0]
    if marker is not None:
        out[:, marker] = c[:, 1]
    return rendered, (out * float(scale)).clamp(0, 1) * 2 - 1
