"""Feature networks for the fidelity metrics.

`domain`: a small CNN (PIGAN appendix Table 6 style) trained on the dataset's real records that are
not members of this run (80% to train, 20% to measure its test accuracy), cached on disk under a key
made of the pool's content hash, the excluded records and the training recipe (`domain_key`), so
re-evaluating a run does not retrain it and two pools that share a name never share a backbone. Its
128-d penultimate layer gives FID / KID features and its softmax the Inception-score class posteriors.
`inception`: the standard FID InceptionV3 (torchmetrics' NoTrainInceptionV3 on torch-fidelity's port of
the TensorFlow weights), used only when its weights file is already on disk -- `inception_weights_path()`:
$PRIVGAN_RUNNER_INCEPTION_WEIGHTS, else torch hub's checkpoints folder
(~/.cache/torch/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth). This code never downloads them;
when they are missing the metric falls back to `domain` and records why.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..classifier import accuracy, shuffled_batches, train_classifier


def cache_dir() -> Path:
    return Path(os.environ.get("PRIVGAN_RUNNER_CACHE", Path.home() / ".cache" / "privgan_runner")) / "backbones"


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, image_size: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, n_classes)
        self.num_features = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Features(nn.Module):
    """The classifier's penultimate layer, as torchmetrics' custom feature extractor."""

    def __init__(self, clf: DomainClassifier):
        super().__init__()
        self.clf, self.num_features = clf, clf.num_features

    def forward(self, x):
        return self.clf.body(x.float())


class Logits(nn.Module):
    def __init__(self, clf: DomainClassifier):
        super().__init__()
        self.clf = clf

    def forward(self, x):
        return self.clf(x.float())


#: the domain backbone's recipe (architecture version, batch, Adam, test share): part of its cache key
DOMAIN_RECIPE = "DomainClassifier-v1 batch=128 adam(lr=1e-3) test=1/5"


def domain_key(pool, exclude: np.ndarray, epochs: int, seed: int) -> str:
    """The domain backbone's identity: the pool's content, the records left out, and how it is trained."""
    h = hashlib.sha256(pool.content_hash().encode())
    h.update(np.sort(np.asarray(exclude)).astype(np.int64).tobytes())
    h.update(f"{DOMAIN_RECIPE} epochs={epochs} seed={seed} classes={pool.n_classes}".encode())
    return h.hexdigest()[:20]


def domain_classifier(dataset_name: str, pool, exclude: np.ndarray, device, epochs: int = 10, seed: int = 0):
    """(classifier in eval mode, its test accuracy), trained once per `domain_key`."""
    c, s = pool.images.shape[1], pool.images.shape[-1]
    path = cache_dir() / f"{dataset_name}-{s}x{c}-{domain_key(pool, exclude, epochs, seed)}.pt"
    clf = DomainClassifier(c, s, pool.n_classes)
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)
        clf.load_state_dict(state["model"])
        return clf.to(device).eval(), state["test_accuracy"]
    keep = np.setdiff1d(np.arange(len(pool)), exclude)
    rng = np.random.default_rng(seed)
    keep = rng.permutation(keep)
    n_test = max(1, len(keep) // 5)
    test, train = torch.as_tensor(keep[:n_test]), torch.as_tensor(keep[n_test:])
    torch.manual_seed(seed)
    clf = DomainClassifier(c, s, pool.n_classes).to(device)
    batches = shuffled_batches(
        pool.images[train], pool.labels[train], epochs, 128, device, torch.Generator().manual_seed(seed)
    )
    train_classifier(clf, batches, torch.optim.Adam(clf.parameters(), lr=1e-3))
    test_accuracy = accuracy(clf, pool.images[test], pool.labels[test], device)
    from ..io import write_torch

    write_torch(path, {"model": clf.state_dict(), "test_accuracy": test_accuracy})
    return clf, test_accuracy


INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


def inception_weights_path() -> Path:
    override = os.environ.get("PRIVGAN_RUNNER_INCEPTION_WEIGHTS")
    if override:
        return Path(override)
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _load_inception(output: str, weights: Path) -> nn.Module:
    from torchmetrics.image.fid import NoTrainInceptionV3

    return NoTrainInceptionV3(
        name="inception-v3-compat", features_list=[output], feature_extractor_weights_path=str(weights)
    )


class InceptionInput(nn.Module):
    """Our images ([-1, 1], 1 or 3 channels) as the InceptionV3 port expects them: uint8 RGB."""

    def __init__(self, net: nn.Module, num_features: int):
        super().__init__()
        self.net, self.num_features = net, num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        out = self.net(x)
        return out.reshape(out.shape[0], -1)


def inception(output: str) -> tuple[nn.Module | None, str]:
    """(network, description) when the weights are on disk, else (None, why not)."""
    weights = inception_weights_path()
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return None, "torch-fidelity is not installed"
    if not weights.is_file():
        return None, (
            f"no InceptionV3 weights at {weights} (place {INCEPTION_FILE} there, or point "
            "PRIVGAN_RUNNER_INCEPTION_WEIGHTS at it; nothing is downloaded)"
        )
    net = _load_inception(output, weights)
    return InceptionInput(net, 2048 if output == "2048" else 1008), f"inception-v3 ({weights})"
