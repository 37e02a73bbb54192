"""Convert scikit-learn's handwritten digits into the CIFAR-10 on-disk format.

The digits (1,797 8x8 grey images of 0-9, shipped inside scikit-learn) are the
one real image dataset installed with a package here. Each image is scaled
from [0, 16] to [0, 255], upsampled to 32x32 (bilinear) and repeated over 3
channels; a fixed stratified split keeps 20% for testing. The result is read
by ``LocalCIFAR10`` (``configs/_base_/datasets/digits_cifar.py``).

Usage:
    python tools/dataset_converters/digits_to_cifar.py work_dirs/demo/data
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

from autola_mm.datasets import write_cifar_files

CLASS_NAMES = tuple(str(digit) for digit in range(10))


def digits_as_cifar_images(seed: int = 0, test_fraction: float = 0.2):
    """Load, upsample and split the digits.

    Args:
        seed (int): Seed of the stratified split.
        test_fraction (float): Share of every class kept for testing.

    Returns:
        tuple: ``((train_images, train_labels), (test_images, test_labels))``
        with uint8 images of shape (N, 32, 32, 3).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    small = torch.from_numpy(digits.images).float().unsqueeze(1) * (255 / 16)
    large = F.interpolate(small, size=(32, 32), mode='bilinear', align_corners=False)
    images = large.clamp(0, 255).round().to(torch.uint8).squeeze(1).numpy()
    images = np.repeat(images[..., None], 3, axis=-1)
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=test_fraction, stratify=digits.target,
        random_state=seed)
    return (train_x, train_y.tolist()), (test_x, test_y.tolist())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_dir', help='data root to write cifar-10-batches-py into')
    parser.add_argument('--seed', type=int, default=0, help='seed of the split')
    args = parser.parse_args()
    train, test = digits_as_cifar_images(args.seed)
    folder = write_cifar_files(args.out_dir, train, test, CLASS_NAMES)
    print(f'wrote {len(train[1])} train and {len(test[1])} test digits to {folder}')


if __name__ == '__main__':
    main()
