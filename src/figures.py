"""Matplotlib figures shared by the stages (Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from src.data.store import Dataset  # noqa: E402


def to_display(images: torch.Tensor, ds: Dataset) -> torch.Tensor:
    """Normalised images -> [0, 1] for display (undo the dataset's mean/std, clip)."""
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    return (images.detach().float().cpu() * std + mean).clamp(0, 1)


def image_grid(images: torch.Tensor, ds: Dataset, ipc: int, title: str, max_per_class: int = 10):
    """One row per class, up to max_per_class images per row."""
    x = to_display(images, ds)
    k = min(ipc, max_per_class)
    fig, axes = plt.subplots(ds.num_classes, k, figsize=(k * 0.9 + 0.6, ds.num_classes * 0.9 + 0.4), squeeze=False)
    for c in range(ds.num_classes):
        for j in range(k):
            img = x[c * ipc + j]
            ax = axes[c][j]
            ax.imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0), cmap="gray" if img.shape[0] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(ds.classes[c], rotation=0, labelpad=12, fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


def loss_curve(losses: list[float], title: str):
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(losses) + 1), losses, lw=0.8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
