"""DCGAN (Radford et al.) sized by image size and channels, optionally conditioned on the class y.

An image size s is built as s0 * 2**k with 3 <= s0 <= 7 (16 = 4*2^2, 28 = 7*2^2, 32 = 4*2^3, 64 = 4*2^4):
G maps z to an s0 x s0 map and doubles it k times; D halves the image k times and reads one logit.
Conditioning (cDCGAN): G sees onehot(y) beside z; D sees onehot(y) as constant extra input planes.
A privacy mechanism may add a membership code c (PIGAN), conditioned on the same way as y.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .base import GANModel

NORMS = ("batch", "layer", "none")


def layout(image_size: int) -> tuple[int, int]:
    """(s0, k) with image_size = s0 * 2**k, s0 in [3, 7], k >= 1."""
    s, k = image_size, 0
    while s > 7 and s % 2 == 0:
        s, k = s // 2, k + 1
    if k == 0 or not 3 <= s <= 7:
        raise ConfigError(
            "dataset.image_size", f"{image_size} is not s0 * 2**k with 3 <= s0 <= 7 and k >= 1 (try 16, 28, 32 or 64)"
        )
    return s, k


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # LayerNorm over (C, H, W): per-record, safe with gradient penalty / DP
    return nn.Identity()


def one_hot(labels: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """onehot(labels) as a comparison, not F.one_hot: F.one_hot checks the labels' range on the host, which
    torch.func's vmap (per-sample DP gradients, privacy/per_sample.py) cannot trace."""
    return (labels.unsqueeze(-1) == torch.arange(n, device=labels.device)).to(dtype)


def _condition(
    y: torch.Tensor | None, n_classes: int, c: torch.Tensor | None, n_codes: int, like: torch.Tensor
) -> torch.Tensor | None:
    """onehot(y) and onehot(c), concatenated; None when the model is unconditional."""
    parts = []
    for value, n, what in ((y, n_classes, "class labels y"), (c, n_codes, "membership codes c")):
        if n:
            if value is None:
                raise ValueError(f"this model is conditioned on {what}: pass them")
            parts.append(one_hot(value, n, like.dtype))
    return torch.cat(parts, 1) if parts else None


class Generator(nn.Module):
    def __init__(
        self, image_size: int, channels: int, z_dim: int, width: int, n_classes: int, norm: str, n_codes: int = 0
    ):
        super().__init__()
        s0, k = layout(image_size)
        widths = [width * 2 ** (k - 1 - i) for i in range(k)]
        self.z_dim, self.n_classes, self.n_codes, self.s0 = z_dim, n_classes, n_codes, s0
        self.project = nn.Linear(z_dim + n_classes + n_codes, widths[0] * s0 * s0, bias=norm == "none")
        self.project_norm = _norm(norm, widths[0])
        ups: list[nn.Module] = []
        for c_in, c_out in zip(widths, widths[1:]):
            ups += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=norm == "none"), _norm(norm, c_out), nn.ReLU(True)]
        ups += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.up = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
        cond = _condition(y, self.n_classes, c, self.n_codes, z)
        h = self.project(z if cond is None else torch.cat([z, cond], 1))
        h = h.view(z.shape[0], -1, self.s0, self.s0)
        return self.up(F.relu(self.project_norm(h)))


class Discriminator(nn.Module):
    def __init__(
        self, image_size: int, channels: int, width: int, n_classes: int, norm: str, n_codes: int = 0, n_out: int = 1
    ):
        super().__init__()
        s0, k = layout(image_size)
        self.n_classes, self.n_codes, self.n_out = n_classes, n_codes, n_out
        layers: list[nn.Module] = []
        c_in = channels + n_classes + n_codes
        for i in range(k):
            c_out = width * 2**i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0 or norm == "none")]
            if i > 0:
                layers.append(_norm(norm, c_out))
            layers.append(nn.LeakyReLU(0.2))  # not in place: per-sample gradient hooks (DP-SGD) need the input
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c_in * s0 * s0, n_out)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
        cond = _condition(y, self.n_classes, c, self.n_codes, x)
        if cond is not None:
            x = torch.cat([x, cond[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)
        out = self.head(self.features(x))
        return out.squeeze(1) if self.n_out == 1 else out


def init_dcgan_(module: nn.Module) -> None:
    """DCGAN's initialization: conv weights N(0, 0.02), norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


#: beyond these a DCGAN's layers would not fit any memory (width w gives D 8w channels): refused, not allocated
MAX_Z_DIM, MAX_WIDTH = 4096, 1024


class DCGAN(GANModel):
    def __init__(
        self, z_dim: int = 100, width: int = 64, conditional: bool = False, g_norm: str = "batch", d_norm: str = "batch"
    ):
        for key, value, most in (("z_dim", z_dim, MAX_Z_DIM), ("width", width, MAX_WIDTH)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
                raise ConfigError(key, f"must be an integer in [1, {most}], got {value!r}")
        for key, value in (("g_norm", g_norm), ("d_norm", d_norm)):
            if value not in NORMS:
                raise ConfigError(key, f"must be one of {', '.join(NORMS)}, got {value!r}")
        self.z_dim, self.width, self.conditional = z_dim, width, bool(conditional)
        self.g_norm, self.d_norm = g_norm, d_norm

    def build(self, image_size: int, channels: int, n_classes: int, n_codes: int = 0):
        n_cond = n_classes if self.conditional else 0
        G = Generator(image_size, channels, self.z_dim, self.width, n_cond, self.g_norm, n_codes)
        D = Discriminator(image_size, channels, self.width, n_cond, self.d_norm, n_codes)
        init_dcgan_(G)
        init_dcgan_(D)
        self._shape = (image_size, channels)
        return G, D

    def build_classifier(self, n_out: int) -> nn.Module:
        """Q(x): D's architecture without labels or codes, with n_out logits (PIGAN's Q)."""
        Q = Discriminator(*self._shape, self.width, 0, self.d_norm, n_out=n_out)
        init_dcgan_(Q)
        return Q
