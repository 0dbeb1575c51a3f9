"""End to end: seconds per training epoch of a real MedMNIST run, medgrad's command against a plain PyTorch script.

    python benchmarks/bench_epoch.py [--epochs 2] [--threads 2] [--data-dir ../shared/data/medmnist]
                                     [--frameworks medgrad,torch] [--json FILE]

medgrad: ``medgrad run classification --dataset pneumoniamnist --model resnet18 --batch-size 128`` exactly as a
user runs it (its epoch time from history.jsonl: the training pass plus the validation pass with its metrics).
PyTorch: the same data (the .npz file), the same network (benchmarks/run.py's twin of models/resnet.py's
ResNet-18, started from our initial weights), the same batch size, optimiser (Adam, lr 2e-3), loss, shuffling
and validation pass, written as the short script a PyTorch user would write (no DataLoader workers).
Each framework runs in its own fresh process with OMP/OPENBLAS/MKL_NUM_THREADS set before import; the first
epoch is a warm-up and the reported figure is the median of the later ones. PyTorch is optional.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "medmnist"


def _medgrad(data_dir: str, epochs: int) -> list[float]:
    sys.path.insert(0, str(ROOT))
    from tasks.runner import run_experiment

    with tempfile.TemporaryDirectory() as tmp:
        run_experiment("classification", {"dataset": "pneumoniamnist", "data_dir": data_dir, "model": "resnet18",
                                          "batch_size": "128", "epochs": str(epochs), "quiet": True,
                                          "out": str(Path(tmp) / "run")})
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "history.jsonl").read_text().splitlines()]
    return [row["time"] for row in rows]


def _torch(data_dir: str, epochs: int) -> list[float]:
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run import _copy_weights, _torch_resnet18

    import engine
    from models.resnet import ResNet18

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    data = np.load(Path(data_dir) / "pneumoniamnist.npz")
    x_train = torch.tensor(data["train_images"][:, None].astype(np.float32) / 255.0)
    y_train = torch.tensor(data["train_labels"].reshape(-1).astype(np.int64))
    x_val = torch.tensor(data["val_images"][:, None].astype(np.float32) / 255.0)
    engine.manual_seed(0)
    model = _torch_resnet18(torch)
    _copy_weights(ResNet18(in_channels=1, num_classes=2), model)  # the same initial weights as ours
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = np.random.default_rng(0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in np.array_split(generator.permutation(len(y_train)), -(-len(y_train) // 128)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            torch.cat([model(x_val[i:i + 256]).softmax(1) for i in range(0, len(x_val), 256)])
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--frameworks", default="medgrad,torch")
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # inside the fresh process: time the epochs, print them as JSON
        print(json.dumps((_medgrad if args.worker == "medgrad" else _torch)(args.data_dir, args.epochs)))
        return
    if not (Path(args.data_dir) / "pneumoniamnist.npz").is_file():
        sys.exit(f"bench_epoch: no pneumoniamnist.npz in {args.data_dir} (give --data-dir)")
    env = {**os.environ, **{v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                           "MKL_NUM_THREADS")}}
    results = {}
    for framework in args.frameworks.split(","):
        if framework == "torch":
            try:
                subprocess.run([sys.executable, "-c", "import torch"], check=True, capture_output=True)
            except subprocess.CalledProcessError:
                print("PyTorch is not installed: its column is skipped")
                continue
        done = subprocess.run([sys.executable, __file__, "--worker", framework, "--epochs", str(args.epochs),
                               "--data-dir", args.data_dir], env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"bench_epoch: the {framework} process failed:\n{done.stderr[-2000:]}")
        times = json.loads(done.stdout.strip().splitlines()[-1])
        later = sorted(times[1:]) or times
        results[framework] = {"epoch_seconds": times, "median_after_warmup": later[len(later) // 2]}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{stamp}; {args.threads} threads per framework; PneumoniaMNIST 28x28 (4,708 training, 524 validation "
          f"images), ResNet-18, batch 128, Adam; epochs {args.epochs}, the first a warm-up")
    print("| framework | seconds per epoch (each epoch) | ratio |")
    print("|---|---|---|")
    base = results.get("torch", {}).get("median_after_warmup")
    for framework, r in results.items():
        ratio = f"{r['median_after_warmup'] / base:.2f}x" if base else "-"
        print(f"| {framework} | {r['median_after_warmup']:.1f} ({', '.join(f'{t:.1f}' for t in r['epoch_seconds'])})"
              f" | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"date": stamp, "threads": args.threads, **results}, indent=2))


if __name__ == "__main__":
    main()
