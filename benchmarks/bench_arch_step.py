"""Cost of one SGD step on 100 MNIST-sized images per registry architecture (why the CPU profile's
cross-architecture check uses LeNet and MLP). Prints one JSON object: ms per step and the implied
seconds per model for 300 epochs of a 100-image (ipc 10) set.

    python benchmarks/bench_arch_step.py
"""

import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from src.config import ModelSpec  # noqa: E402
from src.models.registry import build  # noqa: E402
from src.runtime import configure_threads  # noqa: E402

configure_threads()
out = {"benchmark": "arch_step", "device_name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
for name in ("convnet", "lenet", "mlp", "alexnet", "vgg11", "resnet18"):
    net = build(ModelSpec(name=name, width=64), 1, 10, (28, 28))
    x, y = torch.randn(100, 1, 28, 28), torch.randint(0, 10, (100,))
    for _ in range(2):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
    t = time.perf_counter()
    for _ in range(5):
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
    ms = (time.perf_counter() - t) / 5 * 1000
    out[name] = {"ms_per_step": round(ms, 1), "s_per_model_300_epochs": round(ms * 300 / 1000)}
print(json.dumps(out))
