"""PAD's data curriculum for the experts: which training samples each epoch sees.

Every class is ordered from easy to hard by its difficulty score (classes may differ in size).
An expert starts on the easiest `init_ratio` of every class, adds harder samples linearly until
`add_end_epoch`, then drops the easiest `rm_easy_ratio_first` from `rm_epoch_first` and the
easiest `rm_easy_ratio_second` from `rm_epoch_second` (PAD, Sec. 3.1). The epochs are given on
a `curriculum_epochs`-long run and scaled to the configured length, so a short CPU expert goes
through the same phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Curriculum:
    init_ratio: float = 0.75
    add_end_epoch: float = 20
    rm_epoch_first: float = 40
    rm_epoch_second: float = 60
    rm_easy_ratio_first: float = 0.1
    rm_easy_ratio_second: float = 0.2

    @classmethod
    def scaled(cls, spec, epochs: int) -> "Curriculum":
        """The spec's schedule (given on spec.curriculum_epochs) stretched to `epochs`."""
        f = epochs / spec.curriculum_epochs
        return cls(spec.init_ratio, spec.add_end_epoch * f, spec.rm_epoch_first * f, spec.rm_epoch_second * f,
                   spec.rm_easy_ratio_first, spec.rm_easy_ratio_second)

    def window(self, epoch: int) -> tuple[float, float]:
        """(lo, hi): the fraction range [lo, hi) of each class's easy-to-hard order used at `epoch`."""
        if self.add_end_epoch <= 0 or epoch >= self.add_end_epoch:
            hi = 1.0
        else:
            hi = self.init_ratio + (1.0 - self.init_ratio) * epoch / self.add_end_epoch
        lo = 0.0
        if epoch >= self.rm_epoch_second:
            lo = self.rm_easy_ratio_second
        elif epoch >= self.rm_epoch_first:
            lo = self.rm_easy_ratio_first
        return lo, hi


def rank_within_class(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rank of each sample in its class from easiest = 0, size of its class), vectorised; ties by index."""
    n = len(labels)
    order = torch.argsort(scores, stable=True)
    order = order[torch.argsort(labels[order], stable=True)]  # by class, then by score
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n) - starts[labels[order]]
    return rank, counts[labels]


def epoch_indices(scores: torch.Tensor, labels: torch.Tensor, num_classes: int, curriculum: Curriculum,
                  epoch: int) -> torch.Tensor:
    """Sorted indices of the samples an expert trains on at `epoch`: per class, the ranks in
    [floor(lo * n_c), ceil(hi * n_c)) of its easy-to-hard order (at least one sample per class)."""
    lo, hi = curriculum.window(epoch)
    rank, size = rank_within_class(scores.cpu(), labels.cpu(), num_classes)
    first = torch.floor(lo * size.double()).long()
    last = torch.maximum(torch.ceil(hi * size.double() - 1e-9).long(), first + 1)
    return torch.nonzero((rank >= first) & (rank < last)).flatten()
