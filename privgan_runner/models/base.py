"""The model kind: builds (G, D) for an image shape; both take optional class labels y."""

from __future__ import annotations


class GANModel:
    """A model option. `build` returns (generator, discriminator) as torch modules.

    Generator: G(z, y=None, c=None) -> images in [-1, 1]. Discriminator: D(x, y=None, c=None) -> one
    logit per record. `z_dim` is the latent size the trainer samples; `conditional` says whether the
    class y is used; `n_codes` > 0 adds a membership code c in {0..n_codes-1} (PIGAN).
    """

    z_dim: int = 100
    conditional: bool = False
    name: str = ""

    def build(self, image_size: int, channels: int, n_classes: int, n_codes: int = 0):
        raise NotImplementedError

    def build_classifier(self, n_out: int):
        """Q(x) -> n_out logits, shaped like D without labels or codes (call after `build`)."""
        raise NotImplementedError
