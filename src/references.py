"""Published MNIST accuracies drawn as reference marks in the report (not results of this project).

Test accuracy (%) of ConvNet-3 trained on 1 / 10 / 50 synthetic images per class, as reported in:
- DC: Zhao, Mopuri & Bilen, "Dataset Condensation with Gradient Matching", ICLR 2021, Table 1.
- DSA: Zhao & Bilen, "Dataset Condensation with Differentiable Siamese Augmentation", ICML 2021, Table 1.
- DM: Zhao & Bilen, "Dataset Condensation with Distribution Matching", WACV 2023, Table 1.
Full-data ConvNet-3 on MNIST: 99.6 % (DC, Table 1).
"""

PUBLISHED_MNIST = {
    "DC (ICLR'21)": {1: 91.7, 10: 97.4, 50: 98.8},
    "DSA (ICML'21)": {1: 88.7, 10: 97.8, 50: 99.2},
    "DM (WACV'23)": {1: 89.7, 10: 97.5, 50: 98.6},
}
PUBLISHED_MNIST_FULL = ("full data, ConvNet-3 (DC paper)", 99.6)
