import torch

from src.config import ExpertSpec
from src.distill.curriculum import Curriculum, epoch_indices, rank_within_class


def ragged():
    # class 0: 4 samples, class 1: 10 samples, class 2: 1 sample; scores make the order explicit
    labels = torch.tensor([1, 0, 1, 1, 0, 1, 1, 2, 1, 1, 0, 1, 1, 0, 1])
    scores = torch.tensor([0.9, 0.4, 0.1, 0.5, 0.3, 0.2, 0.8, 0.5, 0.3, 1.0, 0.1, 0.6, 0.7, 0.2, 0.4])
    return labels, scores


def test_rank_within_class_orders_easy_to_hard():
    labels, scores = ragged()
    rank, size = rank_within_class(scores, labels, 3)
    for c in range(3):
        idx = torch.nonzero(labels == c).flatten()
        assert sorted(rank[idx].tolist()) == list(range(len(idx)))
        assert (size[idx] == len(idx)).all()
        by_rank = idx[torch.argsort(rank[idx])]
        assert (scores[by_rank].diff() >= 0).all()


def test_schedule_on_a_ragged_toy_dataset():
    labels, scores = ragged()
    cur = Curriculum(init_ratio=0.5, add_end_epoch=4, rm_epoch_first=6, rm_epoch_second=8,
                     rm_easy_ratio_first=0.25, rm_easy_ratio_second=0.5)
    rank, _ = rank_within_class(scores, labels, 3)

    def kept(epoch):
        idx = epoch_indices(scores, labels, 3, cur, epoch)
        return {c: sorted(rank[idx][labels[idx] == c].tolist()) for c in range(3)}

    assert kept(0) == {0: [0, 1], 1: [0, 1, 2, 3, 4], 2: [0]}          # easiest half (the singleton class kept)
    assert kept(2) == {0: [0, 1, 2], 1: list(range(8)), 2: [0]}         # 0.75 of each class: ceil(3), ceil(7.5)
    assert kept(4) == {0: [0, 1, 2, 3], 1: list(range(10)), 2: [0]}     # all
    assert kept(6) == {0: [1, 2, 3], 1: list(range(2, 10)), 2: [0]}     # easiest 25 % dropped: floor(1), floor(2.5)
    assert kept(9) == {0: [2, 3], 1: list(range(5, 10)), 2: [0]}        # easiest 50 % dropped


def test_schedule_scales_with_the_configured_length():
    spec = ExpertSpec(epochs=10)  # PAD's 20/40/60 of 100 epochs -> 2/4/6 of 10
    cur = Curriculum.scaled(spec, spec.epochs)
    assert (cur.add_end_epoch, cur.rm_epoch_first, cur.rm_epoch_second) == (2, 4, 6)
    assert cur.window(1) == (0.0, 0.875) and cur.window(4) == (0.1, 1.0) and cur.window(7) == (0.2, 1.0)
