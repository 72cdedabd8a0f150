"""The sweeps' shared helpers: variants validated up front, rows that name their command, run names resolved once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.sweeps import parse_variant, provenance, sweep_parser, variants, with_overrides
from src.config import load_params
from src.errors import ConfigError
from tests.conftest import REPO as ROOT


def test_variant_values_are_yaml_and_rows_name_their_command():
    assert parse_variant("cos:lr_schedule=cosine,lr_img=2,lam=0.3") == ("cos", {"lr_schedule": "cosine", "lr_img": 2, "lam": 0.3})
    assert parse_variant("base:") == ("base", {})
    where = provenance()
    assert where["command"].startswith("python ") and where["commit"] and where["machine"]


def test_sweeps_share_their_common_flags_with_per_sweep_defaults():
    args = sweep_parser("PAD sweep.\nmore", models=2, ipc=10).parse_args([])
    assert (args.models, args.ipc, args.params, args.preset, args.variant, args.anchor) == \
        (2, 10, Path("params.yaml"), None, [], False)
    args = sweep_parser("x", models=3, ipc=1).parse_args(["--variant", "a:", "--variant", "b:lam=1", "--preset", "paper"])
    assert (args.models, args.ipc, args.variant, args.preset) == (3, 1, ["a:", "b:lam=1"], "paper")


def test_dotted_variant_keys_change_one_field_of_a_nested_setting():
    base = load_params(ROOT / "params.yaml").distill.datadam["mnist"]
    ((name, updates, cfg),) = variants(["bn:model.norm=batch,lam=0.3"], base)
    assert (name, updates) == ("bn", {"model.norm": "batch", "lam": 0.3})
    assert cfg.model.norm == "batch" and cfg.lam == 0.3
    assert cfg.model.width == base.model.width and cfg.model.depth == base.model.depth  # the rest kept
    assert base.model.norm == "instance"  # the base is not modified
    assert with_overrides({"a": {"b": 1, "c": 2}}, {"a.b": 3}) == {"a": {"b": 3, "c": 2}}


def test_bad_variants_fail_in_one_line_before_any_work():
    base = load_params(ROOT / "params.yaml").distill.datadam["mnist"]
    with pytest.raises(ConfigError, match=r"--variant 'x:lam=high'.*lam"):
        variants(["ok:lam=0.3", "x:lam=high"], base)
    with pytest.raises(ConfigError, match=r"'lam.x'.*'lam' is not a nested setting"):
        variants(["y:lam.x=1"], base)


def test_herding_tracks_the_mean_greedily():
    import torch

    from benchmarks.datadam_init_probe import herding

    x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [1.0, 0.0], [-9.0, 0.0], [4.0, 4.0]])  # mean (1.2, 0.8)
    picks = herding(x, 3).tolist()
    assert picks[0] == 2  # nearest the mean
    assert len(set(picks)) == 3  # no image twice
    # the second pick minimises the distance of the pair's mean to the class mean among all pairs with row 2
    gaps = {j: float(((x[2] + x[j]) / 2 - x.mean(0)).square().sum()) for j in (0, 1, 3, 4)}
    assert picks[1] == min(gaps, key=gaps.get)


def test_scoring_at_marks_gives_the_images_of_runs_of_those_lengths():
    import torch

    from benchmarks.datadam_sweep import distill_at
    from src.distill import datadam
    from tests.distill.test_datadam import cfg, tiny_dataset

    ds, cpu = tiny_dataset(), torch.device("cpu")
    marks = list(distill_at(ds, cfg(iterations=12), 2, "real", 0, cpu, [6, 9, 40]))
    assert [n for n, _, _ in marks] == [6, 9, 12]  # a mark past the run's length is dropped; the end is always scored
    assert [r.resumed_from for _, r, _ in marks] == [0, 4, 8]  # each leg resumed from the last checkpoint
    for n, r, _ in marks:
        alone = datadam.distill(ds, cfg(iterations=n), 2, "real", 0, cpu)
        assert torch.equal(r.images, alone.images), n


def test_protocol_variants_score_the_same_set_under_each_protocol():
    import dataclasses

    import torch

    from benchmarks.datadam_sweep import score_val
    from src.config import EvalSpec, ModelSpec
    from tests.distill.test_datadam import tiny_dataset

    ds = tiny_dataset()
    ds = dataclasses.replace(ds, val=ds.train)  # the toy set has no validation split of its own
    spec = EvalSpec(model=ModelSpec(depth=2, width=8), epochs=4, batch_size=8, compile=False)
    images, labels = ds.normalize(ds.train.x[::10]), ds.train.y[::10]
    protocols = variants(["as_is:", "hot:lr=0.5"], spec, flag="--protocol")
    plain, as_is, hot = [*score_val(ds, images, labels, spec, None, 2, 0, torch.device("cpu")),
                         *score_val(ds, images, labels, spec, protocols, 2, 0, torch.device("cpu"))]
    assert "protocol" not in plain and (as_is["protocol"], hot["protocol"]) == ("as_is", "hot")
    assert hot["protocol_overrides"] == {"lr": 0.5}
    assert as_is["accs"] == plain["accs"]  # an empty body is the profile's protocol, seed for seed
    assert hot["accs"] != plain["accs"]  # the override reached the training
    with pytest.raises(ConfigError, match=r"--protocol 'x:lr=-1'"):
        variants(["x:lr=-1"], spec, flag="--protocol")


def test_a_given_set_is_checked_and_named_by_its_file_and_hash(tmp_path):
    import dataclasses

    import torch

    from benchmarks.datadam_sweep import load_given
    from src.distill import synthetic
    from src.errors import DataError
    from tests.distill.test_datadam import tiny_dataset

    ds = tiny_dataset()  # 3 classes, 1x12x12, mean 0.2, std 0.3
    base = {"dataset": "toy", "method": "datadam", "init": "noise", "mean": [0.2], "std": [0.3]}
    images, labels = torch.randn(6, 1, 12, 12), torch.arange(3).repeat_interleave(2)
    path = synthetic.save(tmp_path / "set.safetensors", images, labels, base)
    given = load_given(path, ds)
    assert torch.equal(given["images"], images) and torch.equal(given["labels"], labels)
    row = given["row"]
    assert (row["ipc"], row["init"], row["split"], row["set"]) == (2, "noise", "val", str(path))
    assert row["content_hash"] == synthetic.load(path).meta["content_hash"]
    ragged = synthetic.save(tmp_path / "ragged.safetensors", images[:5], labels[:5], base)
    with pytest.raises(DataError, match=r"ragged.safetensors: a datadam set with 5 images; --set scores DataDAM sets"):
        load_given(ragged, ds)
    pad = synthetic.save(tmp_path / "pad.safetensors", images, labels, {**base, "method": "pad"}, lr=torch.tensor(0.01))
    with pytest.raises(DataError, match=r"pad.safetensors: a pad set"):
        load_given(pad, ds)
    with pytest.raises(DataError, match="made for dataset 'toy', not 'other'"):
        load_given(path, dataclasses.replace(ds, name="other"))


def test_a_given_set_fixes_the_set_size_and_a_different_ipc_is_refused():
    from benchmarks.datadam_sweep import images_per_class
    from src.errors import UserError

    assert images_per_class(None, None, None) == 1  # no set, no flag: the sweep's default
    assert images_per_class(10, None, None) == 10
    assert images_per_class(None, 50, Path("s.safetensors")) == 50
    assert images_per_class(50, 50, Path("s.safetensors")) == 50
    with pytest.raises(UserError, match=r"--ipc 10: s.safetensors holds 50 images per class"):
        images_per_class(10, 50, Path("s.safetensors"))


def test_nas36_params_give_the_36_network_grid_and_keep_the_full_study_settings(tmp_path):
    import yaml

    from benchmarks.nas36_params import grid36_params
    from src.nas.space import grid

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    base = grid36_params(yaml.safe_load((ROOT / "params.yaml").read_text()), 3)
    cell = grid36_params(raw, 3, proxy_epochs=12, proxy_lr=0.05, eval_points=1)
    paths = []
    for i, doc in enumerate((base, cell)):
        paths.append(tmp_path / f"p{i}.yaml")
        paths[-1].write_text(yaml.safe_dump(doc, sort_keys=False))
    a, b = (load_params(p).nas["mnist"] for p in paths)
    assert len(grid(a.space, 28)) == 36 and a.full.epochs == 3
    # the short cells change only the proxy's budget: full data's settings stay those of nas_grid36.sh
    assert (b.proxy.epochs, b.proxy.lr, b.eval_points) == (12, 0.05, 1)
    assert b.full == a.full and b.space == a.space and b.seeds == a.seeds


def test_nas36_proxy_stats_round_compare_figures_and_keep_per_network_scores(tmp_path):
    import json

    from benchmarks.nas36_params import STATS, proxy_stats

    cmp = {"random": {**dict.fromkeys(STATS, 0.123456), "proxy_pick": "d1-w8-none-relu-avg", "top5_overlap": 2}}
    (tmp_path / "mnist_random.json").write_text(json.dumps({"results": {"d1-w8-none-relu-avg": {"val_mean": 91.23456}}}))
    row = proxy_stats(cmp, "random", tmp_path)
    assert list(row) == [*STATS, "val_means"]
    assert row["spearman"] == 0.123 and row["top5_overlap"] == 2 and row["proxy_pick"] == "d1-w8-none-relu-avg"
    assert row["val_means"] == {"d1-w8-none-relu-avg": 91.23}


def _bash(script: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)


def test_scratch_run_names_a_pipeline_run_and_refuses_an_unknown_one():
    # the lookup nas_grid36.sh and nas_proxy_set.sh share: dataset, method and the set's file stem
    ok = _bash("source benchmarks/scratch.sh; scratch_run mnist-pad-ipc10-real")
    assert (ok.returncode, ok.stdout.split()) == (0, ["mnist", "pad", "pad_ipc10_real"])
    bad = _bash("source benchmarks/scratch.sh; scratch_run mnist-nope")
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "'mnist-nope'" in bad.stderr


def test_nas_grid36_stops_on_a_bad_run_name_before_any_work():
    res = _bash("bash benchmarks/nas_grid36.sh mnist-nope")
    assert res.returncode == 2 and "no run named 'mnist-nope'" in res.stderr and res.stdout == ""  # nothing ran


def test_nas_grid36_subsets_read_rho_per_norm_family_and_the_batch_norm_gap():
    from benchmarks.nas_grid36_subsets import subsets

    full = {"d1-w8-batch-relu-avg": 90.0, "d1-w8-instance-relu-avg": 91.0, "d2-w8-batch-relu-avg": 95.0,
            "d2-w8-instance-relu-avg": 94.0, "d4-w8-none-relu-avg": 11.0}
    syn = {**full, "d1-w8-batch-relu-avg": 80.0, "d2-w8-batch-relu-avg": 82.0}  # batch norm scored low
    row = {"set": "s", "commit": "c", "command": "x", "full_val_means": full,
           "synthetic": {"val_means": syn}, "random": {"val_means": dict(full)}}
    out = subsets(row)
    assert out["full_batch_minus_instance"] == 0.0
    assert out["synthetic"]["batch_minus_instance"] == -11.5 and out["random"]["batch_minus_instance"] == 0.0
    assert out["random"]["spearman"]["all"] == 1.0 and out["synthetic"]["spearman"]["instance"] == 1.0
    assert out["synthetic"]["spearman"]["depth1-3_norm"] < 0.5  # batch nets now rank below instance ones


def test_protocol_gain_applies_the_adoption_rule_with_the_se_of_the_difference():
    from benchmarks.protocol_gain import gain

    base = [97.0, 97.2, 96.8]  # sample std 0.2 each side: SE of the difference sqrt(2 * 0.04 / 3) = 0.163
    assert gain(base, [97.1, 97.3, 96.9]) == {"gain": 0.1, "se": 0.163, "bar": 0.327, "adopt": False}  # 2 SE > 0.3
    assert gain(base, [97.5, 97.7, 97.3])["adopt"] is True  # +0.5 clears max(0.3, 0.327)
    noisy = gain([90.0, 92.0, 94.0], [91.0, 93.0, 95.0])  # +1 point under 2 SE = 3.27
    assert (noisy["bar"], noisy["adopt"]) == (3.266, False)
