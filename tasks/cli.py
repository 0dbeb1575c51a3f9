"""The ``medgrad`` command.

    medgrad list                                  the experiments, one line each
    medgrad run classification [options]          train, evaluate, write a run folder
    medgrad run classification --resume RUN_DIR   continue an interrupted run
    medgrad report RUN_DIR... [--out report.md]   compare runs in a Markdown report
    medgrad gallery [--out gallery.png]           look at the data (phantoms, MedMNIST found)

A user mistake (unknown dataset, a model that does not fit the data, a missing file) prints
one line starting with "medgrad: error:" and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys

from tasks.config import RunConfig, UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medgrad", description="medgrad: deep learning for medical imaging, from scratch")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments")

    run = sub.add_parser("run", help="train and evaluate an experiment")
    run.add_argument("experiment", nargs="?", help="experiment name (see `medgrad list`)")
    run.add_argument("--dataset", help="lesions (generated phantoms, the default) or a MedMNIST name, e.g. breastmnist")
    run.add_argument("--model", help="network (lenet5, resnet18, vgg, alexnet, mlp, perceptron) or baseline "
                                     "(knn, svm, logreg)")
    run.add_argument("--epochs", type=int)
    run.add_argument("--batch-size", type=int, dest="batch_size")
    run.add_argument("--lr", type=float)
    run.add_argument("--optimizer", choices=["adam", "adamw", "sgd"])
    run.add_argument("--weight-decay", type=float, dest="weight_decay")
    run.add_argument("--seed", type=int)
    run.add_argument("--device", choices=["cpu", "cuda"])
    run.add_argument("--data-dir", dest="data_dir", help="folder with MedMNIST .npz files")
    run.add_argument("--out", help="run folder (default: runs/<experiment>-<dataset>-<model>-<time>)")
    run.add_argument("--quick", action="store_true", default=None, help="tiny settings for a smoke test")
    run.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    run.add_argument("--augment", action="store_true", default=None, help="random flips/rotations/affine")
    run.add_argument("--imbalance", choices=["none", "weighted", "balanced"],
                     help="class imbalance: weighted loss or class-balanced sampling")
    run.add_argument("--size", type=int, help="MedMNIST image size (28, 64, 128, 224)")
    run.add_argument("--n-samples", type=int, dest="n_samples", help="number of generated phantom images")
    run.add_argument("--features", choices=["pixels", "radiomics"], help="inputs of the classical baselines")
    run.add_argument("--patience", type=int, help="early stopping patience (epochs) on the validation AUC")
    run.add_argument("--width", type=int, help="channel width of the CNN")
    run.add_argument("--limit", type=int, help="use at most this many training images")
    run.add_argument("--bootstrap", type=int, help="bootstrap resamples for confidence intervals")
    run.add_argument("--config", help="JSON file with the same options")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")

    report = sub.add_parser("report", help="compare runs in a Markdown report")
    report.add_argument("runs", nargs="+")
    report.add_argument("--out", default="report.md")

    sub.add_parser("gallery", help="render a PNG sheet of the data (see `medgrad gallery --help`)")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["gallery"]:  # its own options (tasks/data/gallery.py), passed through untouched
        from tasks.data import gallery

        return gallery.main(argv[1:]) or 0
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            from tasks.experiments import EXPERIMENTS

            for name, exp in EXPERIMENTS.items():
                print(f"{name:16s} {exp.description}")
            return 0
        if args.command == "report":
            from tasks.report import write_report

            print(write_report(args.runs, args.out))
            return 0
        from tasks.runner import resume_run, run_experiment

        if args.resume:
            result = resume_run(args.resume, quiet=bool(args.quiet))
        else:
            if not args.experiment:
                raise UsageError("name an experiment: medgrad run EXPERIMENT (see `medgrad list`)")
            options = {k: getattr(args, k) for k in RunConfig.fields() if k != "experiment" and hasattr(args, k)}
            config = RunConfig.from_sources(args.config, experiment=args.experiment, **options)
            result = run_experiment(config)
        print(f"run folder: {result['run_dir']}")
        return 0
    except UsageError as e:
        print(f"medgrad: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"medgrad: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medgrad: interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
