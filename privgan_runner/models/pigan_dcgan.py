"""The conditional DCGANs of the PIGAN paper (Hassanzadeh & Tillman, appendix Tables 4-5).

G(z, y[, c]) and D(x, y[, c]) for Fashion-MNIST (28x28x1) and CIFAR-10 (32x32x3); with `n_codes`
> 0 both also take PIGAN's membership code c (G: a Dense(7x7x32 / 4x4x64) map of onehot(c)
concatenated after the first Dense; D: a Dense(H*W) plane of onehot(c) concatenated with x).
Keras' `padding="same"` is reproduced with explicit padding; BN momentum 0.9 in Keras is 0.1 here.
Classifier Q(x) (PIGAN's, and PrivGAN's privacy discriminator) is D without y and c, with N outputs.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import GANModel
from .dcgan import init_dcgan_, one_hot

LRELU = 0.2


def _deconv(c_in: int, c_out: int, k: int, stride: int) -> nn.ConvTranspose2d:
    # Keras "same" transposed conv, out = in * stride: (in - 1) * s - 2p + k + op = in * s
    pad = -(-(k - stride) // 2)
    return nn.ConvTranspose2d(c_in, c_out, k, stride, padding=pad, output_padding=2 * pad - (k - stride))


def _conv(c_in: int, c_out: int, k: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, stride, padding=(k - 1) // 2)  # "same": out = ceil(in / stride)


class _Planes(nn.Module):
    """onehot(label) -> Dense(C*H*W) -> a [C, H, W] map (the papers' label-embedding inputs)."""

    def __init__(self, n: int, shape: tuple[int, int, int]):
        super().__init__()
        self.n, self.shape = n, shape
        self.dense = nn.Linear(n, shape[0] * shape[1] * shape[2])

    def forward(self, label: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.dense(one_hot(label, self.n, dtype)).view(-1, *self.shape)


class PiganGenerator(nn.Module):
    def __init__(self, dataset: str, z_dim: int, n_classes: int, n_codes: int):
        super().__init__()
        self.z_dim, self.n_classes, self.n_codes = z_dim, n_classes, n_codes
        if dataset == "fashion_mnist":
            base, code_ch, s0 = 128, 32, 7
            body = [
                _deconv(base + (code_ch if n_codes else 0), 128, 5, 2),
                nn.BatchNorm2d(128),
                nn.LeakyReLU(LRELU),
                _deconv(128, 128, 5, 2),
                nn.BatchNorm2d(128),
                nn.LeakyReLU(LRELU),
                _deconv(128, 64, 3, 1),
                nn.BatchNorm2d(64),
                nn.LeakyReLU(LRELU),
                _conv(64, 1, 3, 1),
                nn.Tanh(),
            ]
            self.head_norm = nn.Sequential(nn.BatchNorm2d(base + (code_ch if n_codes else 0)), nn.LeakyReLU(LRELU))
        else:  # cifar10: no BN in the paper's Table 4(b)
            base, code_ch, s0 = 256, 64, 4
            body = [
                _deconv(base + (code_ch if n_codes else 0), 128, 4, 2),
                nn.LeakyReLU(LRELU),
                _deconv(128, 128, 4, 2),
                nn.LeakyReLU(LRELU),
                _deconv(128, 64, 4, 2),
                nn.LeakyReLU(LRELU),
                _conv(64, 3, 3, 1),
                nn.Tanh(),
            ]
            self.head_norm = nn.LeakyReLU(LRELU)
        self.base, self.s0 = base, s0
        self.project = nn.Linear(z_dim + n_classes, base * s0 * s0)
        self.code = _Planes(n_codes, (code_ch, s0, s0)) if n_codes else None
        self.body = nn.Sequential(*body)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.cat([z, one_hot(y, self.n_classes, z.dtype)], 1) if self.n_classes else z
        h = self.project(h).view(-1, self.base, self.s0, self.s0)
        if self.code is not None:
            h = torch.cat([h, self.code(c, z.dtype)], 1)
        return self.body(self.head_norm(h))


class PiganDiscriminator(nn.Module):
    """D(x, y[, c]) -> one logit; with n_classes = n_codes = 0 and n_out = N it is the classifier Q(x)."""

    def __init__(self, dataset: str, n_classes: int, n_codes: int, n_out: int = 1):
        super().__init__()
        self.n_classes, self.n_codes = n_classes, n_codes
        if dataset == "fashion_mnist":
            shape, stem = (1, 28, 28), None
            convs, side, c_last = [(64, 5), (128, 5), (128, 5)], 4, 128
        else:
            shape, stem = (3, 32, 32), nn.Sequential(_conv(3, 64, 3, 1), nn.LeakyReLU(LRELU))
            convs, side, c_last = [(128, 3), (128, 3), (256, 3)], 4, 256
        self.stem = stem
        self.label = _Planes(n_classes, shape) if n_classes else None
        self.code = _Planes(n_codes, shape) if n_codes else None
        c_in = (64 if stem is not None else shape[0]) + (shape[0] if n_classes else 0) + (shape[0] if n_codes else 0)
        layers: list[nn.Module] = []
        for c_out, k in convs:
            layers += [_conv(c_in, c_out, k, 2), nn.LeakyReLU(LRELU)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c_last * side * side, n_out)
        self.n_out = n_out

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
        parts = [self.stem(x) if self.stem is not None else x]
        if self.label is not None:
            parts.append(self.label(y, x.dtype))
        if self.code is not None:
            parts.append(self.code(c, x.dtype))
        out = self.head(self.features(torch.cat(parts, 1) if len(parts) > 1 else parts[0]))
        return out.squeeze(1) if self.n_out == 1 else out


class PiganDCGAN(GANModel):
    """`model=pigan_dcgan`: the paper's architecture for `arch` fashion_mnist (28x28x1) or cifar10 (32x32x3)."""

    SHAPES = {"fashion_mnist": (28, 1), "cifar10": (32, 3)}

    def __init__(self, arch: str = "fashion_mnist", z_dim: int = 100, conditional: bool = True):
        if arch not in self.SHAPES:
            raise ConfigError("arch", f"must be one of {', '.join(self.SHAPES)}, got {arch!r}")
        self.arch, self.z_dim, self.conditional = arch, z_dim, bool(conditional)

    def build(self, image_size: int, channels: int, n_classes: int, n_codes: int = 0):
        size, ch = self.SHAPES[self.arch]
        if (image_size, channels) != (size, ch):
            raise ConfigError(
                "model.arch",
                f"the {self.arch} architecture is for {size}x{size}x{ch} images; "
                f"the dataset gives {image_size}x{image_size}x{channels}",
            )
        n_cond = n_classes if self.conditional else 0
        G = PiganGenerator(self.arch, self.z_dim, n_cond, n_codes)
        D = PiganDiscriminator(self.arch, n_cond, n_codes)
        init_dcgan_(G)
        init_dcgan_(D)
        return G, D

    def build_classifier(self, n_out: int) -> nn.Module:
        Q = PiganDiscriminator(self.arch, 0, 0, n_out=n_out)
        init_dcgan_(Q)
        return Q
