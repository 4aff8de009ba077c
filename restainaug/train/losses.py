"""CycleGAN losses, returned as tensors (nothing is stored on modules).

References to equations are to Zhu et al., "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks" (ICCV 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cycle_loss", "gan_loss", "identity_loss"]


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al., 2017), the reference's ``lsgan``: Eqn. (1) with
    the negative log-likelihood replaced by a squared error.

    Args:
        logits: PatchGAN outputs.
        real: target label: ``True`` for real images (and for a generator's fakes in the
            generator update), ``False`` for fakes in the discriminator update.

    Examples:
        >>> float(gan_loss(torch.ones(1, 1, 2, 2), real=True))
        0.0
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.mse_loss(logits.float(), target.float())


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency L1 loss, one term of Eqn. (2): ``|G_B(G_A(x)) - x|_1``.

    Examples:
        >>> float(cycle_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)))
        1.0
    """
    return F.l1_loss(reconstructed.float(), original.float())


def identity_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Identity L1 loss ``|G(y) - y|_1`` (Sec. 5.2 of the paper), or its optical stand-in
    when the two domains have different channels (see `restainaug.train.trainer`)."""
    return F.l1_loss(output.float(), target.float())
