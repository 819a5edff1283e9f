"""Fashion-MNIST (70,000 28x28 grey images, 10 classes): the PIGAN paper's first dataset."""

from .idx import IdxDataset


class FashionMNIST(IdxDataset):
    torchvision_folder = "FashionMNIST"
    system_folders = ("/usr/share/datasets/fashion-mnist",)
    how_to_get = (
        "`make data` (Debian: apt-get install dataset-fashion-mnist), or put torchvision's "
        "FashionMNIST/raw/ folder under dataset.root, or set dataset.download=true on a machine "
        "with a network."
    )
