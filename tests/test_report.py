"""The report reads every number from metrics files: change a file, the text changes."""

import json

from src.report import build_report


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def fake_metrics(root, acc):
    m = root / "reports/metrics/mnist"
    write(m / "baseline.json", {"test_acc": 99.12, "model": "ConvNet-3", "epochs": 4, "train_images": 55000,
                                "train_seconds": 300.0, "macs_per_image": 9.5e6, "device": "cpu", "torch_threads": 2,
                                "preset": "cpu"})
    for ipc, r in ((1, 52.3), (10, 90.1)):
        write(m / f"random_ipc{ipc}.json", {"ipc": ipc, "acc_mean": r, "acc_std": 1.0, "device": "cpu",
                                                  "torch_threads": 2})
        write(m / f"datadam_ipc{ipc}_real.json", {
            "method": "datadam", "ipc": ipc, "init": "real", "acc_mean": acc + ipc, "acc_std": 0.5, "n_models": 5,
            "random_acc_mean": r, "random_acc_std": 1.0, "gain_over_random": acc + ipc - r, "seconds": 50.0,
            "device": "cpu", "torch_threads": 2, "preset": "cpu",
            "cross": {"alexnet": {"model": "alexnet", "acc_mean": 77.7, "acc_std": 2.0}}})
    write(root / "reports/nas/mnist_compare.json", {
        "full_search_seconds": 600.0, "synthetic": {"data": "datadam_ipc10_real", "spearman": 0.81, "kendall": 0.66,
                                                    "spearman_top5": 0.5, "top5_overlap": 3, "top1_regret": 0.2,
                                                    "search_seconds": 12.0, "speedup": 50.0,
                                                    "budget_curve": [{"epoch": 20, "spearman": 0.42, "top1_regret": 1.5,
                                                                      "speedup": 250.0},
                                                                     {"epoch": 100, "spearman": 0.81, "top1_regret": 0.2,
                                                                      "speedup": 50.0}]}})


def test_summary_numbers_come_from_files(workdir):
    fake_metrics(workdir, 80.0)
    text = build_report(["mnist"]).read_text()
    assert "99.12 %" in text and "81.00 ± 0.50" in text and "52.30 ± 1.00" in text and "+28.70" in text
    assert "77.70 ± 2.00" in text and "| synthetic | datadam_ipc10_real | 0.810 | 0.660 |" in text
    assert "preset **cpu**" in text and "device **cpu, 2 torch threads**" in text
    assert "| synthetic | 20 | 0.420 | 1.50 | 250.0× |" in text and "| synthetic | 100 | 0.810 | 0.20 | 50.0× |" in text
    for fig in ("mnist_acc_vs_ipc.png", "mnist_full_vs_distilled.png"):
        assert (workdir / "reports/figures/summary" / fig).stat().st_size > 5000
    fake_metrics(workdir, 70.0)  # a different metrics file: a different report
    assert "71.00 ± 0.50" in build_report(["mnist"]).read_text()


def test_a_damaged_metrics_file_is_one_line_naming_it_and_no_report(workdir):
    from tests.conftest import run_module

    fake_metrics(workdir, 80.0)
    bad = workdir / "reports/metrics/mnist/datadam_ipc1_real.json"
    bad.write_text(bad.read_text()[:40])  # truncated, as an interrupted hand edit leaves it
    r = run_module("src.report", cwd=workdir)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and str(bad.relative_to(workdir)) in r.stderr and "not valid JSON" in r.stderr
    assert not (workdir / "reports/summary.md").exists()
    bad.write_text("[1, 2]")  # valid JSON, but not a metrics object
    r = run_module("src.report", cwd=workdir)
    assert r.returncode == 2 and "holds a JSON list, expected an object" in r.stderr
