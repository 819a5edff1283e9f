"""Orthonormal regularization of D's weights (Wu Sec. 4.3: "Brock et al. [4] proposed orthonormal
regularization on the weight matrix to stabilize the training of GANs"; [4] is Brock et al. 2017,
"Neural photo editing with introspective adversarial networks", ICLR 2017).

For every D weight matrix W (rows = output units; a conv kernel flattened to out x in*k*k):
- `form: full` (default, Brock et al. 2017, the work Wu cite): beta * ||W W^T - I||_F^2, which pushes the
  filters towards an orthonormal set (unit norms included);
- `form: off_diagonal` (Brock et al. 2019, BigGAN): beta * ||W W^T * (1 - I)||_F^2, orthogonality without
  constraining the filters' norms.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import ConfigError
from .base import Critic, Regularizer

FORMS = ("full", "off_diagonal")


class Orthonormal(Regularizer):
    def __init__(self, beta: float = 1e-4, form: str = "full"):
        if not beta > 0:
            raise ConfigError("beta", f"must be > 0, got {beta}")
        if form not in FORMS:
            raise ConfigError("form", f"must be one of {', '.join(FORMS)}, got {form!r}")
        self.beta, self.form = float(beta), form

    def penalty(self, D: nn.Module, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        total = real.new_zeros(())
        for m in D.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight.flatten(1)
                eye = torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
                gram = w @ w.t()
                deviation = gram - eye if self.form == "full" else gram * (1 - eye)
                total = total + deviation.pow(2).sum()
        return self.beta * total
