"""PAD's expert trajectories: training, storage and verified loading.

`models/experts/<dataset>/` holds
  difficulty.safetensors   EL2N score of every pool sample and its index in the train split
  expert_000.safetensors   trajectory (keep_epochs + 1, P): the flattened parameters at the start
  ...                      and after every epoch (float32, or float16 with `fp16: true`)
  manifest.json            dataset, seed, settings hash, model, parameter names and shapes,
                           learning rate, and the md5 of every file above
Only the epochs distillation can read are trained and kept (`keep_epochs` >= max start epoch +
expert epochs). The manifest is rewritten after every expert, so a killed run resumes with the
ones not yet listed. `Experts.open` checks the manifest's structure (one line naming a missing or bad
key) and every file against it (md5, trajectory shape) before anything is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file
from torch import nn

from src.augment import DSA
from src.config import ExpertSpec, ModelSpec
from src.data.fsutil import atomic_file, md5sum, read_json, write_json
from src.distill.curriculum import Curriculum, epoch_indices
from src.errors import DataError
from src.models.registry import build
from src.runtime import generator, seeded
from src.train import loss_step, sgd_pass

FORMAT = "ddkit-experts/1"


def expert_file(index: int) -> str:
    """The trajectory file of expert `index` (the manifest lists them in this order, from 0)."""
    return f"expert_{index:03d}.safetensors"


def flat_params(net: nn.Module) -> torch.Tensor:
    """All parameters, shallowest layer first (module registration order), as one vector."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def train_expert(x: torch.Tensor, y: torch.Tensor, scores: torch.Tensor, spec: ExpertSpec, num_classes: int,
                 seed: int, index: int, progress=lambda it, **kw: it) -> tuple[torch.Tensor, nn.Module]:
    """One expert: SGD at lr_teacher with DSA on the curriculum's samples of each epoch.
    Returns the trajectory (keep_epochs + 1, P) on the CPU and the trained network."""
    device = x.device
    with seeded(seed, "expert-init", index):
        net = build(spec.model, x.shape[1], num_classes, tuple(x.shape[2:])).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=spec.lr_teacher, momentum=spec.momentum, weight_decay=spec.weight_decay)
    curriculum = Curriculum.scaled(spec, spec.epochs)
    dsa, gen = DSA(spec.dsa_strategy), generator(seed, device, "expert-train", index)
    epochs = min(spec.keep_epochs, spec.epochs)
    traj = [flat_params(net).cpu()]
    step = loss_step(net, spec.batch_size, device, spec.compile, spec.amp_cpu)
    net.train()
    for epoch in progress(range(epochs), desc=f"expert {index + 1}/{spec.n_experts}"):
        idx = epoch_indices(scores, y, num_classes, curriculum, epoch).to(device)
        idx = idx[torch.randperm(len(idx), generator=gen, device=device)]
        sgd_pass(step, opt, x, y, idx, spec.batch_size, lambda xb: dsa(xb, gen))
        traj.append(flat_params(net).cpu())
    return torch.stack(traj), net


class _File(BaseModel):
    file: str
    md5: str = Field(pattern=r"^[0-9a-f]{32}$")

    @field_validator("file")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if Path(v).name != v or v.startswith("."):
            raise ValueError(f"{v!r} is not a file name inside the experts directory")
        return v


class _Expert(_File):
    val_acc: float


class _Manifest(BaseModel):
    """What distillation reads from manifest.json; other keys (provenance, timings) pass through."""

    model_config = ConfigDict(extra="allow")
    dataset: str
    seed: int
    key: str
    model: ModelSpec
    lr_teacher: float = Field(gt=0)
    epochs_saved: int = Field(ge=1)
    param_names: list[str]
    param_shapes: list[list[int]]
    n_params: int = Field(ge=1)
    difficulty: _File
    experts: list[_Expert]


def check_manifest(mpath: Path, manifest: dict) -> None:
    """The manifest's structure, in one line naming the first bad key (a hand-edited or truncated
    manifest would otherwise fail later as a KeyError deep inside distillation)."""
    try:
        m = _Manifest.model_validate(manifest)
    except ValidationError as err:
        e = err.errors()[0]
        raise DataError(f"{mpath}: {'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}") from None
    if len(m.param_names) != len(m.param_shapes):
        raise DataError(f"{mpath}: {len(m.param_names)} param_names but {len(m.param_shapes)} param_shapes")
    total = sum(math.prod(shape) for shape in m.param_shapes)
    if total != m.n_params:
        raise DataError(f"{mpath}: param_shapes hold {total} parameters, n_params says {m.n_params}")


@dataclass
class Experts:
    """Verified read access to a directory of expert trajectories."""

    root: Path
    manifest: dict

    @classmethod
    def open(cls, root: str | Path, dataset: str | None = None) -> "Experts":
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.is_file():
            raise DataError(f"{mpath}: missing; build the experts with `dvc repro experts@<dataset>` "
                            f"or fetch them with `dvc pull {root}`")
        manifest = read_json(mpath)
        if manifest.get("format") != FORMAT:
            raise DataError(f"{mpath}: format {manifest.get('format')!r}, expected {FORMAT!r}")
        check_manifest(mpath, manifest)
        if dataset is not None and manifest.get("dataset") != dataset:
            raise DataError(f"{mpath}: experts of dataset {manifest.get('dataset')!r}, not {dataset!r}")
        if not manifest.get("experts"):
            raise DataError(f"{mpath}: lists no finished expert")
        files = [e["file"] for e in manifest["experts"]]
        if files != [expert_file(i) for i in range(len(files))]:
            raise DataError(f"{mpath}: lists experts {files[:8]}, expected expert_000 to expert_{len(files) - 1:03d} "
                            "in order (an interrupted run? `python -m src.experts` resumes it)")
        for entry in [manifest["difficulty"], *manifest["experts"]]:
            path = root / entry["file"]
            if not path.is_file():
                raise DataError(f"{path}: listed in {mpath} but missing")
            if md5sum(path) != entry["md5"]:
                raise DataError(f"{path}: md5 does not match {mpath} (file altered or corrupt)")
        want = [int(manifest["epochs_saved"]) + 1, int(manifest["n_params"])]
        for entry in manifest["experts"]:  # the md5s vouch for the files, not for the manifest's own numbers
            path = root / entry["file"]
            try:
                with safe_open(str(path), framework="pt") as f:
                    shape = list(f.get_slice("trajectory").get_shape())
            except (SafetensorError, OSError) as err:
                raise DataError(f"{path}: unreadable trajectory ({err})") from None
            if shape != want:
                raise DataError(f"{path}: trajectory of shape {shape}, {mpath} says {want} (epochs_saved + 1, n_params)")
        return cls(root, manifest)

    @property
    def n(self) -> int:
        return len(self.manifest["experts"])

    @property
    def epochs(self) -> int:
        return int(self.manifest["epochs_saved"])

    @property
    def model(self) -> ModelSpec:
        return ModelSpec(**self.manifest["model"])

    @property
    def lr_teacher(self) -> float:
        return float(self.manifest["lr_teacher"])

    def params(self, expert: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """Flattened float32 parameters of `expert` after `epoch` epochs (0: its initialisation)."""
        path = self.root / self.manifest["experts"][expert]["file"]
        try:
            with safe_open(str(path), framework="pt") as f:
                row = f.get_slice("trajectory")[epoch]
        except (SafetensorError, OSError) as err:
            raise DataError(f"{path}: unreadable trajectory ({err})") from None
        return row.to(device=device, dtype=torch.float32)

    def difficulty(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(train-split indices of the pool, their EL2N scores)."""
        return read_difficulty(self.root / self.manifest["difficulty"]["file"])


def read_difficulty(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor("indices"), f.get_tensor("scores")


def save_trajectory(path: Path, traj: torch.Tensor, fp16: bool) -> str:
    with atomic_file(path) as tmp:
        save_file({"trajectory": traj.to(torch.float16 if fp16 else torch.float32).contiguous()}, str(tmp))
    return md5sum(path)


def save_difficulty(path: Path, indices: torch.Tensor, scores: torch.Tensor) -> str:
    with atomic_file(path) as tmp:
        save_file({"indices": indices.cpu().contiguous(), "scores": scores.float().cpu().contiguous()}, str(tmp))
    return md5sum(path)


def write_manifest(root: Path, manifest: dict) -> None:
    write_json(root / "manifest.json", manifest)


def resumable_manifest(root: Path, key: str) -> dict | None:
    """The manifest of an interrupted run with the same settings, keeping only entries whose files verify."""
    mpath = root / "manifest.json"
    try:
        manifest = read_json(mpath)
    except (OSError, DataError):
        return None
    if manifest.get("key") != key or manifest.get("format") != FORMAT:
        return None
    try:
        check_manifest(mpath, manifest)
    except DataError:  # damaged: start over rather than trust any of it
        return None

    def ok(entry) -> bool:
        p = root / entry["file"]
        return p.is_file() and md5sum(p) == entry["md5"]

    if not manifest.get("difficulty") or not ok(manifest["difficulty"]):
        return None
    # every expert that verifies is kept: with --workers they finish out of order, and the rest are retrained
    manifest["experts"] = [entry for entry in manifest.get("experts", []) if ok(entry)]
    return manifest


def param_layout(spec: ModelSpec, channels: int, num_classes: int, im_size: tuple[int, int]) -> tuple[list[str], list[list[int]]]:
    net = build(spec, channels, num_classes, im_size)
    return [n for n, _ in net.named_parameters()], [list(p.shape) for p in net.parameters()]
