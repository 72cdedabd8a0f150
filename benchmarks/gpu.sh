#!/usr/bin/env bash
# All GPU checks in one run (sized for <= 8 minutes on one H100/H200). Writes JSON to $OUT
# (default benchmarks/results/gpu/): the GPU's name, DataDAM ms/iteration vs its floor, the
# batched-vs-one-by-one evaluator, PAD ms/iteration and memory per unroll mode, a shortened
# paper-preset PAD run (experts + distillation timed), and the MNIST DataDAM distillations at 1/10/50 images per
# class with the `paper` preset plus their evaluations (final iterate, 10 models).
#
# On the lent device machine, carry data/raw/mnist (the verified idx files) and .venv is not
# needed: this script installs the project into the machine's Python if torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export DD_TRACKING=0 PYTHONUNBUFFERED=1
python3 -c "import torch, safetensors, typer, pydantic" 2>/dev/null || python3 -m pip install -q -e .
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt"
GPU=$(cut -d, -f1 "$OUT/gpu.txt" | tr ' ' '_')

# data: the packed MNIST store from the carried raw files (md5-verified)
python3 -m src.prepare mnist --source-dir data/raw/mnist

# 1. DataDAM speed at MNIST 10 images/class, batch_real 64 (paper network: ConvNet-3 width 128)
for ipc in 1 10 50; do
  python3 benchmarks/bench_datadam.py --device cuda --ipc $ipc --iterations 200 --width 128 >> "$OUT/bench_datadam_${GPU}.jsonl"
done
python3 benchmarks/bench_datadam.py --device cuda --ipc 10 --iterations 200 --width 128 --no-compile >> "$OUT/bench_datadam_${GPU}.jsonl"
python3 benchmarks/bench_datadam.py --device cuda --data mhist-fixture --resolution 224 --depth 7 --width 128 --ipc 10 \
  --iterations 20 >> "$OUT/bench_datadam_${GPU}.jsonl"

# 2. the evaluator: 10 models x 300 epochs on 100 images, batched (vmap) vs one by one
python3 benchmarks/bench_evaluate.py --device cuda --modes one_by_one_eager,batched_vmap_eager > "$OUT/bench_evaluate_${GPU}.json"

# 2b. PAD: ms/iteration and peak memory, full vs checkpointed unroll (MNIST ipc 10, ConvNet-3 w128,
#     N=40, batch 100), and what fits at MHIST's 224x224 (ConvNet-7 w128, checkpointed, N=20, batch 20)
for mode in full checkpointed; do
  python3 benchmarks/bench_pad.py --device cuda --ipc 10 --syn-steps 40 --batch-syn 100 --width 128 --unroll $mode \
    >> "$OUT/bench_pad_${GPU}.jsonl"
done
python3 benchmarks/bench_pad.py --device cuda --data mhist-fixture --resolution 224 --depth 7 --width 128 --ipc 10 \
  --syn-steps 20 --batch-syn 20 --unroll checkpointed --iterations 3 >> "$OUT/bench_pad_${GPU}.jsonl" || true
python3 benchmarks/bench_pad.py --device cuda --data mhist-fixture --resolution 112 --depth 6 --width 128 --ipc 10 \
  --syn-steps 20 --batch-syn 20 --unroll full --iterations 3 >> "$OUT/bench_pad_${GPU}.jsonl" || true

# 3. paper-preset distillations and their evaluations, written by the pipeline's own stage code
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml"))
p["preset"] = "paper"
p["runs"] = {f"mnist-datadam-ipc{i}-real": {"dataset": "mnist", "method": "datadam", "ipc": i, "init": "real"} for i in (1, 10, 50)}
p["random"] = {f"mnist-ipc{i}": {"dataset": "mnist", "ipc": i} for i in (1, 10, 50)}
# PAD at 10 images/class, shortened to fit this script's 8 minutes (the paper preset's full
# length is 8 experts x 22 epochs and 2000 iterations): 4 experts x 12 epochs, 500 iterations
p["expert_datasets"] = ["mnist"]
p["pad_runs"] = {"mnist-pad-ipc10-real": {"dataset": "mnist", "method": "pad", "ipc": 10, "init": "real"}}
p["presets"]["paper"]["experts"]["mnist"].update(n_experts=4, keep_epochs=12)
# cross-architecture evaluation (AlexNet/VGG-11/ResNet-18 x 5 models x 1000 epochs per set) does not fit
# the 8 minutes; `dvc exp run -S preset=paper` runs it
p["presets"]["paper"]["evaluate"]["mnist"]["cross_models"] = []
p["presets"]["paper"]["distill"]["pad"]["mnist"].update(iterations=500, start_epoch=5, max_start_epoch=10, expand_iterations=250)
yaml.safe_dump(p, open("/tmp/params.paper.yaml", "w"), sort_keys=False)
PY
for ipc in 1 10 50; do
  python3 -m src.evaluate random mnist $ipc --params /tmp/params.paper.yaml
  python3 -m src.distill mnist-datadam-ipc${ipc}-real --params /tmp/params.paper.yaml
  python3 -m src.evaluate distilled mnist-datadam-ipc${ipc}-real --params /tmp/params.paper.yaml
done
start=$(date +%s)
python3 -m src.experts mnist --params /tmp/params.paper.yaml
python3 -m src.distill mnist-pad-ipc10-real --params /tmp/params.paper.yaml
echo "{\"pad_experts_plus_distill_s\": $(( $(date +%s) - start ))}" > "$OUT/pad_time_${GPU}.json"
python3 -m src.evaluate distilled mnist-pad-ipc10-real --params /tmp/params.paper.yaml
python3 - "$OUT" "$GPU" <<'PY'
import json, sys, pathlib
out, gpu = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = {p.stem: json.loads(p.read_text()) for p in sorted(pathlib.Path("reports/metrics/mnist").glob("*.json"))}
(out / f"paper_mnist_{gpu}.json").write_text(json.dumps(rows, indent=2))
PY
ls -la "$OUT"
