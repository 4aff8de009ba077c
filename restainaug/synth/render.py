"""Rendering: concentration maps -> a fluorescence (IF) image and a brightfield (IHC) image."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["blur", "jitter_stain", "render_if", "render_ihc"]


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of ``(C, H, W)`` or ``(H, W)`` maps (edge pixels replicated).

    A sum of shifted copies: for the small kernels used here, faster on the CPU than a
    one-channel convolution.
    """
    if sigma <= 0:
        return x.astype(np.float32, copy=True)
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(-1, *x.shape[-2:])
    h, w = t.shape[-2:]
    p = F.pad(t[None], (radius, radius, 0, 0), mode="replicate")[0]
    t = sum(float(k[i]) * p[..., :, i : i + w] for i in range(2 * radius + 1))
    p = F.pad(t[None], (0, 0, radius, radius), mode="replicate")[0]
    t = sum(float(k[i]) * p[..., i : i + h, :] for i in range(2 * radius + 1))
    return t.reshape(x.shape).numpy()


def jitter_stain(rng: np.random.Generator, vector: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate a stain vector by a random angle ~ N(0, degrees) about a random axis."""
    v = np.asarray(vector, np.float64)
    v = v / np.linalg.norm(v)
    if degrees <= 0:
        return v
    axis = rng.standard_normal(3)
    axis = np.cross(v, axis)
    axis /= max(np.linalg.norm(axis), 1e-12)
    angle = np.deg2rad(rng.normal(0.0, degrees))
    out = (
        v * np.cos(angle)
        + np.cross(axis, v) * np.sin(angle)
        + axis * axis.dot(v) * (1 - np.cos(angle))
    )
    out = np.clip(out, 0.02, None)
    return out / np.linalg.norm(out)


def render_ihc(
    rng: np.random.Generator,
    conc: np.ndarray,
    stains: np.ndarray,
    glass: np.ndarray,
    scanner_blur: float,
    noise: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Beer-Lambert brightfield image of stain concentrations.

    Args:
        rng: random generator (pixel noise).
        conc: optical densities of the stains, ``(K, H, W)``.
        stains: unit absorption vectors, ``(K, 3)``.
        glass: glass colour ``(3,)`` in ``[0, 1]``.
        scanner_blur: Gaussian blur (pixels) of the optics.
        noise: standard deviation of additive pixel noise.

    Returns:
        ``(ihc, conc_imaged)``: uint8 ``(H, W, 3)`` and the blurred concentrations the image
        shows, ``(K, H, W)`` float32.
    """
    imaged = blur(conc, scanner_blur)
    od = torch.einsum("khw,kc->hwc", torch.from_numpy(imaged), torch.from_numpy(stains).float())
    rgb = torch.from_numpy(glass).float() * torch.pow(10.0, -od)
    g = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    rgb += float(noise) * torch.randn(rgb.shape, generator=g)
    ihc = rgb.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()
    return ihc, imaged.astype(np.float32, copy=False)


def render_if(
    rng: np.random.Generator,
    channels: np.ndarray,
    psf: float,
    background: float,
    noise: float,
) -> np.ndarray:
    """Fluorescence image of fluorophore amounts: PSF blur, background, signal-dependent noise.

    Args:
        rng: random generator (noise).
        channels: fluorophore amounts on the nominal scale, ``(C, H, W)``.
        psf: Gaussian point-spread function (pixels).
        background: additive background level.
        noise: noise standard deviation at signal 1 (Gaussian read noise plus a shot-noise
            term that grows with the square root of the signal).

    Returns:
        float32 ``(C, H, W)``, non-negative.
    """
    signal = blur(channels, psf) + background
    sd = noise * np.sqrt(0.25 + np.clip(signal, 0, None))
    g = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    jitter = torch.randn(signal.shape, generator=g).numpy() * sd
    return np.clip(signal + jitter, 0.0, None).astype(np.float32)
