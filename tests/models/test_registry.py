import pytest
import torch

from src.config import ModelSpec
from src.models.convnet import ConvNet, max_depth
from src.models.registry import REGISTRY, build, complexity


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 64)])
def test_every_model_builds_and_classifies(name, channels, size):
    model = build(ModelSpec(name=name, depth=3, width=16), channels, 10, (size, size))
    out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 10)
    c = complexity(model, channels, (size, size))
    assert c["params"] == sum(p.numel() for p in model.parameters()) and c["macs"] > 0


def test_convnet_macs_match_hand_count():
    # conv MACs = k*k*cin*cout*h*w per layer, plus the classifier
    m = build(ModelSpec(depth=2, width=8), 1, 10, (8, 8))
    expected = 9 * 1 * 8 * 64 + 9 * 8 * 8 * 16 + (8 * 2 * 2) * 10
    assert complexity(m, 1, (8, 8))["macs"] == expected


@pytest.mark.parametrize("norm", ["none", "batch", "instance", "group", "layer"])
@pytest.mark.parametrize("pool", ["avg", "max", "none"])
def test_convnet_variants_and_block_features(norm, pool):
    m = ConvNet(1, 10, (28, 28), depth=3, width=8, norm=norm, pool=pool)
    feats, emb = m.blocks(torch.randn(4, 1, 28, 28))
    assert len(feats) == 3 and feats[0].shape == (4, 8, 28, 28)
    assert emb.shape == (4, m.embed_dim)


def test_convnet_depth_limit_is_a_clear_error():
    assert max_depth(28) == 4 and max_depth(224) == 7
    ConvNet(3, 2, (224, 224), depth=7)
    with pytest.raises(ValueError, match="depth 5 shrinks a 28x28 input below 1x1"):
        ConvNet(1, 10, (28, 28), depth=5)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_parameters_are_registered_in_the_order_the_forward_uses_them(name, norm):
    # PAD's depth mask drops the first alpha fraction of the flattened parameters, taking that
    # order (registration order) for depth: a norm layer registered after deeper convolutions
    # (as ConvNet's once were) would be kept in the loss when it should be dropped.
    model = build(ModelSpec(name=name, depth=3, width=8, norm=norm), 1, 10, (28, 28))
    used: list[str] = []
    owners = {m: n for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}
    hooks = [m.register_forward_pre_hook(lambda mod, _: used.append(owners[mod]) if owners[mod] not in used else None)
             for m in owners]
    model(torch.randn(2, 1, 28, 28))
    for h in hooks:
        h.remove()
    first_use = [f"{owner}.{p}" for owner in used for p, _ in dict(model.named_modules())[owner].named_parameters(recurse=False)]
    assert first_use == [n for n, _ in model.named_parameters()]
