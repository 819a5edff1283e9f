"""MNIST (70,000 28x28 handwritten digits): dp-GAN's and the privGAN notebooks' dataset."""

from .idx import IdxDataset


class MNIST(IdxDataset):
    torchvision_folder = "MNIST"
    system_folders = ("/usr/share/datasets/mnist",)
    how_to_get = (
        "put torchvision's MNIST/raw/ folder (the four IDX files) under dataset.root, or set "
        "dataset.download=true on a machine with a network."
    )
