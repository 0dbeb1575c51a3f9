"""The ``medgrad`` command.

    medgrad list                                  the experiments, one line each
    medgrad run NAME [options]                    train, evaluate, write a run folder
    medgrad run NAME --help                       exactly that experiment's options
    medgrad run --resume RUN_DIR                  continue an interrupted run, in that folder
    medgrad report RUN_DIR... [--out report.md]   compare runs in a Markdown report
    medgrad gallery [--out gallery.png]           look at the data (phantoms, MedMNIST found)

Every anticipated failure (a user mistake, a missing or unreadable file, no permission, a full
disk, a corrupt checkpoint, a missing GPU) prints one line starting with "medgrad: error:" and
exits with status 2. A genuine bug still shows its traceback, so that it gets reported.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from tasks.errors import RunInterrupted, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a parsing mistake is one line (UsageError), not usage text plus an error."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _main_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="medgrad", description="medgrad: deep learning for medical imaging, from scratch. "
                "`medgrad run NAME --help` lists an experiment's options.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the experiments")
    sub.add_parser("run", help="train and evaluate an experiment: medgrad run NAME [options]", add_help=False)
    sub.add_parser("study", help="data-size or imbalance study: medgrad study data-size|imbalance [options]",
                   add_help=False)
    report = sub.add_parser("report", help="compare runs in a Markdown report")
    report.add_argument("runs", nargs="+")
    report.add_argument("--out", default="report.md")
    sub.add_parser("gallery", help="render a PNG sheet of the data (see `medgrad gallery --help`)", add_help=False)
    explain = sub.add_parser("explain", help="attribution maps, sanity checks and faithfulness of a trained "
                             "classification run: medgrad explain RUN_DIR [--method M] [--layer NAME] [--n 16]")
    explain.add_argument("run_dir")
    explain.add_argument("--method", default="all", help="all, or some of (comma-separated): saliency, "
                         "gradient_x_input, smoothgrad, integrated_gradients, grad_cam, occlusion, lime")
    explain.add_argument("--layer", default=None, help="Grad-CAM's layer (dotted name; default: the last convolution)")
    explain.add_argument("--n", type=int, default=16, help="test images to explain (half misclassified if possible)")
    explain.add_argument("--label-randomization", action="store_true", help="also train the network on permuted "
                         "labels (as long as the run trained) and compare its maps (Adebayo et al. 2018)")
    sweep = sub.add_parser("sweep", help="hyperparameter sweep of any experiment: medgrad sweep SPEC.json [--out DIR] "
                           "[--quick] (grid, random, successive halving, Hyperband; see tasks/sweep.py)")
    sweep.add_argument("spec")
    sweep.add_argument("--out", default=None, help="the sweep folder (default: a new one under runs/); an existing "
                       "sweep folder with the same spec is resumed")
    sweep.add_argument("--quick", action="store_true", help="shrink every trial as `medgrad run --quick` does")
    sweep.add_argument("--workers", type=int, default=1, help="trials in parallel processes on this machine, each "
                       "with its share of the cores")
    sweep.add_argument("--scheduler", default=None, help="tcp://HOST:PORT of a Dask scheduler: run the trials on its "
                       "workers (extra 'distributed'); run folders come back to the sweep folder")
    sweep.add_argument("--shared", action="store_true", help="with --scheduler: every worker sees the sweep folder "
                       "(a shared file system), so trials write their run folders there directly")
    retrieve = sub.add_parser("retrieve", help="similar training cases by a trained classification network's "
                              "embeddings: medgrad retrieve RUN_DIR [--query FILE | --test-index I] [--k 8]")
    retrieve.add_argument("run_dir")
    group = retrieve.add_mutually_exclusive_group()
    group.add_argument("--query", default=None, help="an image file (PNG, .npy, NIfTI) to find neighbours of")
    group.add_argument("--test-index", type=int, default=None, help="or the test image with this index (default 0)")
    retrieve.add_argument("--k", type=int, default=8, help="neighbours to show and precision@k to report")
    return p


def _describe(option) -> str:
    parts = [option.help] if option.help else []
    if option.type is not bool:
        parts.append(f"default: {option.default}")
        if option.has_quick:
            parts.append(f"--quick: {option.quick}")
        if option.choices is None and (option.low is not None or option.high is not None):
            low = "" if option.low is None else (f"> {option.low:g}" if option.open_low else f">= {option.low:g}")
            high = "" if option.high is None else f"<= {option.high:g}"
            parts.append(" and ".join(x for x in (low, high) if x))
    return "; ".join(parts).replace("%", "%%")  # argparse formats help strings with %


def experiment_parser(experiment) -> argparse.ArgumentParser:
    """``medgrad run NAME``'s parser, built from the experiment's declared options."""
    p = _Parser(prog=f"medgrad run {experiment.name}", description=experiment.description,
                argument_default=argparse.SUPPRESS)
    p.add_argument("experiment", nargs="?", help=argparse.SUPPRESS)
    for option in experiment.all_options():
        if option.type is bool:
            p.add_argument(option.flag, dest=option.name, action="store_true", help=_describe(option))
        else:
            metavar = "{" + ",".join(map(str, option.choices)) + "}" if option.choices else option.name.upper()
            # values stay strings here: the option's own parser checks them, as for config files
            p.add_argument(option.flag, dest=option.name, metavar=metavar, help=_describe(option))
    p.add_argument("--config", dest="_config", metavar="FILE", help="JSON file of options (the command line wins)")
    p.add_argument("--resume", dest="_resume", metavar="RUN_DIR",
                   help="continue the interrupted run in RUN_DIR with its saved options")
    return p


def _run(argv: list[str]) -> int:
    from tasks.registry import EXPERIMENTS, get_experiment
    from tasks.runner import resume_run, run_experiment

    name = argv[0] if argv and not argv[0].startswith("-") else None  # medgrad run NAME [options]
    resume_dir = None
    if "--resume" in argv or any(a.startswith("--resume=") for a in argv):
        probe = _Parser(prog="medgrad run", add_help=False)
        probe.add_argument("--resume")
        known, _ = probe.parse_known_args(argv)
        resume_dir = known.resume
        if resume_dir is None:
            raise UsageError("--resume needs a run folder")
        from tasks.runfolder import read_saved_config

        saved_name = read_saved_config(Path(resume_dir))["experiment"]
        if name not in (None, resume_dir) and name != saved_name:
            raise UsageError(f"--resume {resume_dir} is a {saved_name!r} run, not {name!r}")
        name = saved_name
    if name is None:
        if "-h" in argv or "--help" in argv:
            print("usage: medgrad run NAME [options]   (medgrad run NAME --help for its options)\n\nexperiments:")
            for n in EXPERIMENTS:
                print(f"  {n:16s} {get_experiment(n).description}")
            return 0
        raise UsageError("name an experiment: medgrad run NAME (see `medgrad list`)")
    experiment = get_experiment(name)
    args = vars(experiment_parser(experiment).parse_args(argv))
    args.pop("experiment", None)
    config_file = args.pop("_config", None)
    args.pop("_resume", None)
    if resume_dir is not None:
        if config_file is not None:
            raise UsageError("--resume uses the run's saved options; --config cannot be combined with it")
        result = resume_run(resume_dir, args)
    else:
        result = run_experiment(name, args, config_file)
    print(result["summary"])
    print(f"run folder: {result['run_dir']}")
    return 0


def _dispatch(argv: list[str]) -> int:
    if argv[:1] == ["gallery"]:  # its own options (tasks/data/gallery.py), passed through untouched
        from tasks.data import gallery

        return gallery.main(argv[1:]) or 0
    if argv[:1] == ["run"]:
        return _run(argv[1:])
    if argv[:1] == ["study"]:  # medgrad study data-size ... = medgrad run study-data-size ...
        if len(argv) < 2 or argv[1].startswith("-"):
            raise UsageError("medgrad study: name a study: data-size or imbalance")
        return _run([f"study-{argv[1]}", *argv[2:]])
    args = _main_parser().parse_args(argv)
    if args.command == "list":
        from tasks.registry import EXPERIMENTS, get_experiment

        for name in EXPERIMENTS:
            print(f"{name:16s} {get_experiment(name).description}")
        return 0
    if args.command == "explain":
        return _explain(args)
    if args.command == "retrieve":
        return _retrieve(args)
    if args.command == "sweep":
        from tasks.sweep import run_sweep

        result = run_sweep(args.spec, args.out, args.quick, args.workers, args.scheduler, args.shared)
        best = result["best"]
        if best is None:
            print(f"medgrad sweep: no trial finished ({result['failed']} failed); see {result['out']}/results.md",
                  file=sys.stderr)
            return 1
        print(f"{result['trials_run']} trials ({result['method']}); best {result['metric']} "
              f"{best[result['metric']]:.4f} with {best['config']}")
        if "early_termination" in result:
            e = result["early_termination"]
            print(f"learning-curve termination stopped {e['stopped']} of {e['trials']} trials, saving "
                  f"{e['epochs_saved_fraction']:.0%} of the epochs")
        print(f"sweep folder: {result['out']} (results.md, best_config.json)")
        return 0
    from tasks.report import write_report

    print(write_report(args.runs, args.out))
    return 0


def _retrieve(args) -> int:
    from tasks.retrieval import retrieve_run

    if args.query is not None and not Path(args.query).is_file():
        raise UsageError(f"--query {args.query}: no such file")
    result = retrieve_run(args.run_dir, args.query, args.test_index, args.k)
    for name, m in result["test"].items():
        print(f"{name:8s} test mAP {m['map']:.3f} ({m['map_ci'][0]:.3f}-{m['map_ci'][1]:.3f})  precision@{args.k} "
              f"{m[f'precision_at_{args.k}']:.3f}")
    print(f"neighbours of {result['query']}: {result['neighbours']} (figure {result['figure']})")
    return 0


def _explain(args) -> int:
    from tasks.attribution import METHODS
    from tasks.explain import explain_run

    methods = METHODS if args.method == "all" else tuple(m.strip() for m in args.method.split(",") if m.strip())
    if not methods or any(m not in METHODS for m in methods):
        raise UsageError(f"--method must be all or some of {', '.join(METHODS)} (comma-separated); got {args.method!r}")
    if args.n < 2:
        raise UsageError(f"--n must be at least 2, got {args.n}")
    result = explain_run(args.run_dir, methods, args.layer, args.n, label_randomization=args.label_randomization)
    for name, r in result["methods"].items():
        verdict = "passes" if r["sanity"]["passes"] else "FAILS"
        line = (f"{name:22s} deletion AUC {r['deletion_auc']:.3f}  insertion AUC {r['insertion_auc']:.3f}  model "
                f"randomisation {verdict} (rank correlation {r['sanity']['final']:.2f})")
        if "label_randomization" in r:
            lr = r["label_randomization"]
            line += f"  label randomisation {'passes' if lr['passes'] else 'FAILS'} ({lr['correlation']:.2f})"
        print(line)
    print(f"maps: {result['figure']}")
    return 0


def _error(message: str) -> int:
    print(f"medgrad: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    from engine.train.checkpoint import CheckpointError
    from engine.train.trainer import NonFiniteLossError

    try:
        return _dispatch(argv)
    except UsageError as e:
        return _error(str(e))
    except RunInterrupted as e:
        print(f"medgrad: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("medgrad: interrupted", file=sys.stderr)
        return 130
    except CheckpointError as e:
        return _error(f"checkpoint: {e}")
    except NonFiniteLossError as e:
        return _error(f"training diverged ({e}); try a smaller --lr")
    except MemoryError:
        return _error("out of memory; try a smaller --batch-size or image size")
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        if e.errno == errno.ENOSPC:
            return _error(f"disk full while writing{where}")
        if e.errno in (errno.EACCES, errno.EPERM):
            return _error(f"permission denied:{where}")
        if e.errno == errno.EROFS:
            return _error(f"read-only file system:{where}")
        if isinstance(e, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
            return _error(f"{e.strerror}:{where}")
        raise


if __name__ == "__main__":
    raise SystemExit(main())
