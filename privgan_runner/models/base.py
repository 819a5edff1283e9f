"""The model kind: builds (G, D) for an image shape; both take optional class labels y."""
from __future__ import annotations


class GANModel:
    """A model option. `build` returns (generator, discriminator) as torch modules.

    Generator: G(z, y=None) -> images in [-1, 1]. Discriminator: D(x, y=None) -> one logit per record.
    `z_dim` is the latent size the trainer samples; `conditional` says whether y is used.
    """

    z_dim: int = 100
    conditional: bool = False
    name: str = ""

    def build(self, image_size: int, channels: int, n_classes: int):
        raise NotImplementedError
