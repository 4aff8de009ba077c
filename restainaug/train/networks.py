"""PatchGAN discriminators and the two network groups of a CycleGAN.

Naming follows the reference implementation (Zhu et al., 2017): domain A is IHC, domain B
is IF; ``G_A: A -> B`` (IHC -> IF), ``G_B: B -> A`` (IF -> IHC); ``D_A`` judges IF images
(real B vs ``G_A(A)``), ``D_B`` judges IHC images (real A vs ``G_B(B)``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models.architectures import build_generator

__all__ = ["CycleGenerators", "Discriminators", "PatchDiscriminator", "init_weights"]


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN of pix2pix/CycleGAN (``n_layers=3``): one logit per patch.

    ``C64-C128-C256-C512`` with 4x4 convolutions, stride 2 except the last two, instance
    norm from the second layer, LeakyReLU(0.2); no sigmoid (least-squares loss).

    Args:
        in_channels: channels of the judged images.
        ndf: filters of the first layer.
        n_layers: stride-2 layers; the receptive field is 70 px for 3, 34 px for 2.

    Shape:
        - input: `(B, C, H, W)`
        - output: `(B, 1, H', W')`, about `H / 2**n_layers`

    Examples:
        >>> d = PatchDiscriminator(3, ndf=8)
        >>> d(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=False),
                nn.InstanceNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(
    net: nn.Module, gain: float = 0.02, generator: torch.Generator | None = None
) -> None:
    """The reference ``normal`` initialisation: conv weights ~ N(0, gain), biases 0.

    Draws from ``generator`` so that initialisation does not depend on the global RNG.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * gain)
                if m.bias is not None:
                    m.bias.zero_()


class CycleGenerators(nn.Module):
    """Both generators; ``forward`` runs every generator pass a generator update needs.

    One ``forward`` per step keeps ``DistributedDataParallel`` to its one-forward,
    one-backward contract.

    With ``residual`` latent channels, ``G_A`` outputs ``C + residual`` channels and
    ``G_B`` takes them; IF-domain images (``C`` channels) enter ``G_B`` with the residual at
    zero, and every IF-domain output below is cut to its first ``C`` channels (what real IF
    and the discriminator have), except ``fake_if_full``.

    Args:
        ihc_to_if: config of ``G_A`` (IHC -> IF) for `build_generator`.
        if_to_ihc: config of ``G_B`` (IF -> IHC).
        residual: latent residual channels at the end of the IF side.
    """

    def __init__(
        self, ihc_to_if: dict[str, Any], if_to_ihc: dict[str, Any], residual: int = 0
    ) -> None:
        super().__init__()
        self.ihc_to_if = build_generator(ihc_to_if)
        self.if_to_ihc = build_generator(if_to_ihc)
        self.residual = int(residual)

    def _pad(self, b: torch.Tensor) -> torch.Tensor:
        if not self.residual:
            return b
        zeros = b.new_zeros(b.shape[0], self.residual, *b.shape[2:])
        return torch.cat([b, zeros], dim=1)

    def _cut(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, : y.shape[1] - self.residual] if self.residual else y

    def forward(
        self,
        real_ihc: torch.Tensor,
        real_if: torch.Tensor,
        idt_ihc: torch.Tensor | None = None,
        idt_if: torch.Tensor | None = None,
        pair_ihc: torch.Tensor | None = None,
        pair_if: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """All images of one generator update, on the networks' ``[-1, 1]`` scale.

        Args:
            real_ihc: real IHC batch (domain A).
            real_if: real IF batch (domain B).
            idt_ihc: IHC-domain input for ``G_B``'s identity term (``None``: no term).
            idt_if: IF-domain input for ``G_A``'s identity term (``None``: no term).
            pair_ihc: IHC of paired examples for ``pair_if = G_A(pair_ihc)`` (``None``: none).
            pair_if: IF of the same examples for ``pair_ihc = G_B(pair_if)`` (``None``: none).

        Returns:
            ``fake_if = G_A(A)``, ``rec_ihc = G_B(G_A(A))``, ``fake_ihc = G_B(B)``,
            ``rec_if = G_A(G_B(B))``, and ``idt_if = G_A(idt_if)``, ``idt_ihc =
            G_B(idt_ihc)``, ``pair_if`` and ``pair_ihc`` when their inputs are given.
        """
        fake_if_full = self.ihc_to_if(real_ihc)
        fake_ihc = self.if_to_ihc(self._pad(real_if))
        out = {
            "fake_if": self._cut(fake_if_full),
            "fake_if_full": fake_if_full,
            "rec_ihc": self.if_to_ihc(fake_if_full),
            "fake_ihc": fake_ihc,
            "rec_if": self._cut(self.ihc_to_if(fake_ihc)),
        }
        if idt_if is not None:
            out["idt_if"] = self._cut(self.ihc_to_if(idt_if))
        if idt_ihc is not None:
            out["idt_ihc"] = self.if_to_ihc(self._pad(idt_ihc))
        if pair_ihc is not None:
            out["pair_if"] = self._cut(self.ihc_to_if(pair_ihc))
        if pair_if is not None:
            out["pair_ihc"] = self.if_to_ihc(self._pad(pair_if))
        return out


class Discriminators(nn.Module):
    """``D_A`` (judges IF) and ``D_B`` (judges IHC); ``forward`` judges one batch of each.

    Args:
        if_channels: channels of the IF domain.
        ndf: filters of the first layer.
        n_layers: stride-2 layers of each PatchGAN.
    """

    def __init__(self, if_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        self.d_if = PatchDiscriminator(if_channels, ndf, n_layers)
        self.d_ihc = PatchDiscriminator(3, ndf, n_layers)

    def forward(self, if_: torch.Tensor, ihc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Patch logits of ``D_A(if_)`` and ``D_B(ihc)``."""
        return self.d_if(if_), self.d_ihc(ihc)
