"""Typed, validated view of params.yaml.

params.yaml is grouped by pipeline stage. A `preset` key picks a profile: `cpu` (the
default, sized for a 2-core laptop) uses the file as written; `paper` deep-merges
`presets.paper` over it (paper-scale settings for a GPU). Switch in one command:
`dvc exp run -S preset=paper`.

Every value is checked on load: an unknown key, a wrong type or an out-of-range value
raises ConfigError with one line naming the key and what was expected.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from src.errors import ConfigError

DATASETS = ("mnist", "mhist")
Dataset = Literal["mnist", "mhist"]
PARAMS_FILE = Path("params.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """An architecture from the registry (src/models/registry.py)."""

    name: Literal["convnet", "alexnet", "vgg11", "resnet18", "resnet18_bn", "lenet", "mlp"] = "convnet"
    depth: int = Field(3, ge=1, le=8, description="ConvNet blocks")
    width: int = Field(128, ge=1, le=1024, description="ConvNet channels")
    norm: Literal["none", "batch", "instance", "group", "layer"] = "instance"
    act: Literal["relu", "leakyrelu", "gelu", "sigmoid"] = "relu"
    pool: Literal["avg", "max", "none"] = "avg"


class PrepareMNIST(Strict):
    val_size: int = Field(5000, ge=0, le=30000, description="training images held out for validation")


class PrepareMHIST(Strict):
    resolution: int = Field(64, ge=16, le=224, description="working resolution (224 is native)")
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5)


class Prepare(Strict):
    mnist: PrepareMNIST = PrepareMNIST()
    mhist: PrepareMHIST = PrepareMHIST()


class TrainSpec(Strict):
    """Full-data training: SGD with momentum and cosine annealing."""

    model: ModelSpec = ModelSpec()
    epochs: int = Field(3, ge=1, le=1000)
    batch_size: int = Field(128, ge=1, le=8192)
    lr: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    channels_last: bool = True
    compile: bool = Field(False, description="CPU: torch.compile the training step (full-size minibatches)")
    amp_cpu: bool = Field(False, description="CPU: bf16 autocast of the forward passes (AMX/AVX-512 bf16 CPUs; else float32)")


class Baseline(Strict):
    mnist: TrainSpec = TrainSpec()
    mhist: TrainSpec = TrainSpec(model=ModelSpec(depth=5), epochs=20, batch_size=64)


class EvalSpec(Strict):
    """The synthetic-set protocol: N fresh networks trained on a small set, tested on real test data."""

    model: ModelSpec = ModelSpec()
    cross_models: tuple[ModelSpec, ...] = ()
    cross_n_models: int = Field(2, ge=1, le=100, description="models per cross-architecture evaluation")
    n_models: int = Field(5, ge=1, le=100)
    epochs: int = Field(300, ge=1, le=20000)
    batch_size: int = Field(256, ge=1, le=8192)
    lr: float = Field(0.01, gt=0.0, le=10.0)
    lr_ipc: dict[int, float] = Field({}, description="ipc -> the lr for sets of exactly that many images per class "
                                     "(the other sizes train at `lr`); resolved by `at_ipc`")
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0)
    dsa: bool = True
    dsa_strategy: str = Field("color_crop_cutout_flip_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")
    compile: bool = Field(True, description="CPU: torch.compile the training step (see src/protocol.py)")
    amp_cpu: bool = Field(False, description="CPU: bf16 autocast of the models' forward passes (AMX/AVX-512 bf16 CPUs; else float32)")

    @model_validator(mode="after")
    def _lrs(self):
        bad = {k: v for k, v in self.lr_ipc.items() if k < 1 or not 0.0 < v <= 10.0}
        if bad:
            raise ValueError(f"lr_ipc: expected images-per-class >= 1 mapped to an lr in (0, 10] (got {bad})")
        return self

    def at_ipc(self, ipc: int) -> "EvalSpec":
        """The protocol for sets of `ipc` images per class: `lr_ipc` resolved into `lr`, so the
        networks, the anchors and the logged params all see the one lr that trained them."""
        return self.model_copy(update={"lr": self.lr_ipc.get(ipc, self.lr), "lr_ipc": {}})


class Evaluate(Strict):
    mnist: EvalSpec = EvalSpec()
    mhist: EvalSpec = EvalSpec(model=ModelSpec(depth=5))

    def at(self, dataset: str, ipc: int) -> EvalSpec:
        """The dataset's protocol for sets of `ipc` images per class (see EvalSpec.at_ipc)."""
        return getattr(self, dataset).at_ipc(ipc)


class DataDAMSpec(Strict):
    """DataDAM (attention matching). Defaults follow the paper; see src/distill/datadam.py."""

    model: ModelSpec = ModelSpec()
    iterations: int = Field(1000, ge=1, le=1_000_000)
    batch_real: int = Field(64, ge=1, le=4096)
    lr_img: float = Field(1.0, gt=0.0, le=1000.0)
    momentum: float = Field(0.5, ge=0.0, lt=1.0)
    power: float = Field(4.0, gt=0.0, le=16.0, description="attention exponent p (paper 4, released code 1)")
    lam: float = Field(0.01, ge=0.0, le=100.0, description="weight of the embedding (MMD) term")
    scale: float = Field(100.0, gt=0.0, description="the released code's scale factor on both terms")
    dsa_strategy: str = Field("color_crop_cutout_flip_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")
    inner_steps: int = Field(1, ge=1, le=10000, description="image steps per network draw (paper 1; assignment T)")
    net_steps: int = Field(0, ge=0, le=10000, description="network SGD steps on the synthetic set per image step")
    lr_net: float = Field(0.01, gt=0.0, le=10.0)
    batch_train: int = Field(256, ge=1, le=8192)
    checkpoint_every: int = Field(200, ge=1)
    log_every: int = Field(50, ge=1)
    amp: bool = Field(True, description="bf16 autocast for the network forward on CUDA")
    amp_cpu: bool = Field(False, description="bf16 autocast on the CPU too (where the CPU has AMX/AVX-512 bf16)")
    compile: bool = Field(True, description="torch.compile the feature pass (about a minute once; 2x faster on CPU)")

    @model_validator(mode="after")
    def _aligned(self):
        if self.checkpoint_every % self.inner_steps:
            raise ValueError(f"checkpoint_every ({self.checkpoint_every}) must be a multiple of inner_steps "
                             f"({self.inner_steps}) so a resumed run starts on a fresh network")
        return self


class ExpertSpec(Strict):
    """PAD's experts: difficulty scores (EL2N) and trajectories trained with a data curriculum.
    Defaults follow PAD's released scripts (src/distill/experts.py explains each step)."""

    model: ModelSpec = ModelSpec()
    n_experts: int = Field(10, ge=1, le=1000)
    epochs: int = Field(50, ge=1, le=1000, description="nominal training length; the curriculum is scaled to it")
    keep_epochs: int = Field(30, ge=1, le=1000, description="epochs trained and saved (>= max_start_epoch + expert_epochs)")
    pool_per_class: int | None = Field(None, ge=1, description="train on at most this many images per class (None: all)")
    batch_size: int = Field(256, ge=1, le=8192)
    lr_teacher: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    dsa_strategy: str = Field("color_crop_cutout_flip_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")
    # the data curriculum, in epochs of a `curriculum_epochs`-long run (PAD: 100), scaled to `epochs`
    curriculum_epochs: int = Field(100, ge=1)
    init_ratio: float = Field(0.75, gt=0.0, le=1.0, description="easiest fraction of each class at epoch 0")
    add_end_epoch: int = Field(20, ge=0)
    rm_epoch_first: int = Field(40, ge=0)
    rm_epoch_second: int = Field(60, ge=0)
    rm_easy_ratio_first: float = Field(0.1, ge=0.0, lt=1.0)
    rm_easy_ratio_second: float = Field(0.2, ge=0.0, lt=1.0)
    # EL2N difficulty: K briefly trained models
    score_models: int = Field(2, ge=1, le=100)
    score_epochs: int = Field(2, ge=1, le=100)
    fp16: bool = Field(False, description="store trajectories in float16 (half the disk; matching runs in fp32)")
    compile: bool = Field(False, description="CPU: torch.compile the training step (full-size minibatches)")
    amp_cpu: bool = Field(False, description="CPU: bf16 autocast of the training forward (AMX/AVX-512 bf16 CPUs; else float32)")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.add_end_epoch <= self.rm_epoch_first <= self.rm_epoch_second:
            raise ValueError("add_end_epoch <= rm_epoch_first <= rm_epoch_second is required "
                             f"(got {self.add_end_epoch}, {self.rm_epoch_first}, {self.rm_epoch_second})")
        if self.rm_easy_ratio_second < self.rm_easy_ratio_first:
            raise ValueError("rm_easy_ratio_second must be >= rm_easy_ratio_first (easy samples are only ever removed)")
        return self


class PADSpec(Strict):
    """PAD distillation (trajectory matching with parameter selection); see src/distill/pad.py."""

    iterations: int = Field(5000, ge=1, le=1_000_000)
    syn_steps: int = Field(80, ge=1, le=10000, description="N: student steps unrolled per iteration")
    expert_epochs: int = Field(2, ge=1, le=1000, description="M: target is the expert M epochs after the start")
    min_start_epoch: int = Field(0, ge=0, description="T-: lowest start epoch")
    start_epoch: int = Field(10, ge=1, description="T: initial upper bound of the start epoch")
    max_start_epoch: int = Field(20, ge=1, description="T+: final upper bound, reached after `expand_iterations`")
    expand_iterations: int = Field(1000, ge=1)
    batch_syn: int | None = Field(None, ge=1, description="synthetic images per student step (None: all)")
    lr_img: float = Field(100.0, gt=0.0)
    lr_init: float | None = Field(None, gt=0.0, le=10.0, description="initial student lr (None: the experts' lr_teacher)")
    lr_lr: float = Field(1e-5, ge=0.0)
    eval_lr: Literal["learned", "protocol"] = Field(
        "learned", description="the lr the set is evaluated at: the learned student lr (PAD/MTT) or the protocol's")
    lr_y: float = Field(2.0, ge=0.0, description="SGD lr of the soft-label logits (0 freezes them)")
    momentum_y: float = Field(0.9, ge=0.0, lt=1.0)
    momentum: float = Field(0.5, ge=0.0, lt=1.0, description="momentum of the image and lr optimisers")
    soft_labels: bool = True
    alpha: dict[int, float] = Field({1: 0.0, 10: 0.1, 50: 0.25}, description="ipc -> fraction of shallow parameters "
                                    "dropped from the loss (the entry with the largest ipc <= the run's ipc)")
    mask_mode: Literal["flat", "layer"] = "flat"
    threshold: float = Field(1.0, gt=0.0, description="skip the update when the normalised loss exceeds this")
    unroll: Literal["auto", "full", "checkpointed"] = "auto"
    amp_cpu: bool = Field(False, description="CPU: bf16 autocast of the unrolled student steps (AMX/AVX-512 bf16 CPUs; else float32)")
    dsa_strategy: str = Field("color_crop_cutout_flip_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")
    checkpoint_every: int = Field(200, ge=1)
    log_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _window(self):
        if not self.min_start_epoch < self.start_epoch <= self.max_start_epoch:
            raise ValueError(f"min_start_epoch < start_epoch <= max_start_epoch is required (got {self.min_start_epoch}, "
                             f"{self.start_epoch}, {self.max_start_epoch})")
        if any(not 0.0 <= a < 1.0 for a in self.alpha.values()):
            raise ValueError(f"alpha: every ratio must be in [0, 1) (got {self.alpha})")
        if self.eval_lr == "learned" and self.lr_lr == 0:
            raise ValueError("eval_lr: 'learned' needs lr_lr > 0 (at lr_lr 0 the student lr is not learned); "
                             "set eval_lr: protocol")
        return self

    def alpha_for(self, ipc: int) -> float:
        keys = [k for k in self.alpha if k <= ipc]
        return self.alpha[max(keys)] if keys else 0.0


class Distill(Strict):
    datadam: dict[Dataset, DataDAMSpec] = {"mnist": DataDAMSpec(), "mhist": DataDAMSpec(model=ModelSpec(depth=5))}
    pad: dict[Dataset, PADSpec] = {"mnist": PADSpec(), "mhist": PADSpec()}


class Run(Strict):
    """One distillation: dataset x method x images per class x initialisation."""

    dataset: Dataset
    method: Literal["datadam", "pad"]
    ipc: int = Field(ge=1, le=1000)
    init: Literal["real", "noise"] = "real"

    @property
    def name(self) -> str:
        return f"{self.method}_ipc{self.ipc}_{self.init}"


class NASSpace(Strict):
    depth: tuple[int, ...] = (1, 2, 3, 4)
    width: tuple[int, ...] = (32, 64, 128)
    norm: tuple[Literal["none", "batch", "instance", "group", "layer"], ...] = ("none", "batch", "instance")
    act: tuple[Literal["relu", "leakyrelu", "gelu", "sigmoid"], ...] = ("relu",)
    pool: tuple[Literal["avg", "max", "none"], ...] = ("avg",)


class NASBudget(Strict):
    """Training budget of every candidate under one proxy (the same for all candidates)."""

    epochs: int = Field(ge=1, le=10000)
    batch_size: int = Field(256, ge=1, le=8192)
    lr: float = Field(0.01, gt=0.0, le=10.0)


class NAS(Strict):
    """The architecture-search study (src/nas/)."""

    space: NASSpace = NASSpace()
    seeds: int = Field(2, ge=1, le=20, description="training seeds per candidate")
    full: NASBudget = NASBudget(epochs=1, batch_size=128)
    proxy: NASBudget = NASBudget(epochs=300)
    distilled: str = Field("datadam_ipc10_real", pattern=r"^[a-z0-9]+_ipc[0-9]+_(real|noise)$",
                           description="the distilled set used by --proxy synthetic (file stem in data/distilled/<ds>/)")
    final_epochs: int = Field(4, ge=1, le=1000, description="full-data retraining of the chosen architecture")
    dsa_strategy: str = Field("color_crop_cutout_scale_rotate", pattern=r"^(none|[a-z]+(_[a-z]+)*)$")
    eval_points: int = Field(5, ge=1, le=100, description="validation checkpoints per candidate, the last at the final "
                             "epoch (MLflow curve, TPE pruning, nas-compare's budget curve)")
    curve_images: int | None = Field(1000, ge=1, description="checkpoints before the last score on the first this many "
                                     "validation images (None: all); the final score always uses the whole split")


class Anchor(Strict):
    """A random real subset evaluated as the baseline that distilled sets of the same size must beat."""

    dataset: Dataset
    ipc: int = Field(ge=1, le=1000)


class Params(Strict):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    preset: Literal["cpu", "paper"] = "cpu"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    datasets: tuple[Dataset, ...] = ("mnist",)
    prepare: Prepare = Prepare()
    baseline: Baseline = Baseline()
    evaluate: Evaluate = Evaluate()
    distill: Distill = Distill()
    runs: dict[str, Run] = {}
    pad_runs: dict[str, Run] = {}
    experts: dict[Dataset, ExpertSpec] = {"mnist": ExpertSpec(), "mhist": ExpertSpec(model=ModelSpec(depth=5))}
    expert_datasets: tuple[Dataset, ...] = ()
    random: dict[str, Anchor] = {}
    nas: dict[Dataset, NAS] = {"mnist": NAS()}
    nas_datasets: tuple[Dataset, ...] = ("mnist",)
    presets: dict[str, dict[str, Any]] = {}


def _check_runs(params: Params) -> None:
    anchors = {(a.dataset, a.ipc) for a in params.random.values()}
    for group, runs in (("runs", params.runs), ("pad_runs", params.pad_runs)):
        for key, run in runs.items():
            want = "pad" if group == "pad_runs" else "datadam"
            if run.method != want:
                raise ValueError(f"{group}.{key}: method {run.method!r} belongs in "
                                 f"{'pad_runs' if run.method == 'pad' else 'runs'} (its stages differ)")
            if run.method == "pad" and run.dataset not in params.expert_datasets:
                raise ValueError(f"{group}.{key}: PAD needs experts for {run.dataset}; add it to `expert_datasets`")
    for key, run in {**params.runs, **params.pad_runs}.items():
        if (run.dataset, run.ipc) not in anchors:
            raise ValueError(f"runs.{key}: no entry in `random` for dataset {run.dataset} ipc {run.ipc} "
                             f"(add `{run.dataset}-ipc{run.ipc}: {{dataset: {run.dataset}, ipc: {run.ipc}}}`)")


def find_run(params: Params, name: str) -> Run:
    runs = {**params.runs, **params.pad_runs}
    if name not in runs:
        raise ConfigError(f"runs: no run named {name!r} in params.yaml runs or pad_runs (have: {', '.join(runs) or 'none'})")
    return runs[name]


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override's leaves written over it (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def one_line(err: ValidationError, source: str) -> str:
    """A validation error as one line: `source: key: what was wrong (got value) [+N more]`."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    got = first.get("input")
    got_s = "" if isinstance(got, dict) else f" (got {got!r})"
    more = f" [+{err.error_count() - 1} more]" if err.error_count() > 1 else ""
    return f"{source}: {key}: {first['msg']}{got_s}{more}"


def parse_params(raw: dict, source: str = "params.yaml", preset: str | None = None) -> Params:
    """Validate a raw params dict, applying the chosen preset's overrides (`preset`, else the
    dict's own `preset:` key, else cpu)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of stage groups at the top level")
    if preset is None:
        preset = raw.get("preset", "cpu")
    else:
        raw = {**raw, "preset": preset}
    presets = raw.get("presets", {}) or {}
    if preset != "cpu":
        if preset not in presets:
            raise ConfigError(f"{source}: preset: {preset!r} has no section under 'presets' (have: {sorted(presets)})")
        raw = deep_merge(raw, presets[preset])
    try:
        params = Params.model_validate(raw)
        _check_runs(params)
        return params
    except ValidationError as err:
        raise ConfigError(one_line(err, source)) from None
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_params(path: str | Path = PARAMS_FILE, preset: str | None = None) -> Params:
    """params.yaml (or `path`), validated; `preset` overrides the file's own `preset:` key, so a
    benchmark can run the paper profile without editing the file the pipeline tracks."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run from the repository root, or pass --params)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return parse_params(raw, str(path) if preset is None else f"{path} (preset: {preset})", preset)
