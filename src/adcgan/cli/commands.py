"""Handlers of the ``adcgan`` subcommands (their settings: :mod:`adcgan.cli.settings`)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from adcgan.cli.score import cmd_export, cmd_score
from adcgan.cli.settings import parse_set, resolve_run_spec

def cmd_train(args: argparse.Namespace) -> int:
    """``adcgan train``."""
    from adcgan.evaluation.experiment import metrics_line, run_experiment

    spec = resolve_run_spec(args)
    metrics = run_experiment(spec, Path(args.out), resume=args.resume, progress=not args.quiet)
    _summary(metrics, args.out)
    print(metrics_line(metrics))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``adcgan evaluate``."""
    from adcgan.evaluation.experiment import evaluate_saved, metrics_line

    spec = resolve_run_spec(args, training=False)
    metrics = evaluate_saved(args.model, spec, args.out, device=args.device, batch_size=args.batch_size,
                             progress=not args.quiet, compile_scoring=bool(args.compile_scoring),
                             overrides=parse_set(args.set or []))
    _summary(metrics, args.out)
    print(metrics_line(metrics))
    return 0


def _summary(m: dict[str, Any], out: str) -> None:
    auc = m.get("roc_auc")
    comps = " ".join(f"{k}={v:.4f}" for k, v in (m.get("component_auroc") or {}).items() if v is not None)
    print(f"ROC-AUC {auc:.4f}" if auc is not None else "ROC-AUC n/a (one class only)", f"AP {m.get('average_precision')}",
          f"| components: {comps}" if comps else "", f"| report: {out}", file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> int:
    """``adcgan info``: data sets found, detectors, devices."""
    import torch

    from adcgan.data import find_dataset, get_spec, list_datasets
    from adcgan.registry import list_detectors
    from adcgan.training.runtime import resolve_device

    print(f"adcgan {__import__('adcgan').__version__}, torch {torch.__version__}, "
          f"device auto -> {resolve_device('auto')}")
    print("detectors: " + ", ".join(list_detectors()))
    print("data sets:")
    for name in list_datasets():
        where = find_dataset(name, args.data_dir) if args.data_dir else find_dataset(name)
        missing = ("not found (verified download on first use)" if get_spec(name).resources
                   else "not found (no public download: pass --data-dir)")
        print(f"  {name:14s} {where if where else missing}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``adcgan bench ...`` (delegates to :mod:`adcgan.cli.bench`)."""
    from adcgan.cli.bench import run_bench_command

    return run_bench_command(args)


def cmd_rescore(args: argparse.Namespace) -> int:
    """``adcgan rescore``: another combination of a run's (or a study's) stored components."""
    from adcgan.evaluation import rescore as R
    from adcgan.evaluation import rescore_db as RD

    modes, comps = args.combine or ["mixed"], args.components or ["all"]
    if args.run:
        if len(modes) > 1 or len(comps) > 1 or args.set or args.record:
            raise ValueError("--run takes one --combine and one --components and no --set (for one model: "
                             "adcgan evaluate --model RUN --set KEY=VALUE) and no --record; use --db for several")
        m = R.rescore_run(args.run, args.out, modes[0], comps[0], robust=not args.moment)
        print(f"rescore: {args.run} combine={modes[0]} components={','.join(m['combine']['components'])}: "
              f"ROC-AUC {m['roc_auc']:.4f} -> {args.out}", file=sys.stderr)
        print(json.dumps({k: m.get(k) for k in ("roc_auc", "average_precision", "threshold", "combine")}))
        return 0
    if not Path(args.db).is_file():
        raise FileNotFoundError(f"study database {args.db} not found")
    if Path(args.out).exists():
        raise FileExistsError(f"{args.out} exists; choose another --out")
    if args.record:
        return _record(args)
    if args.set:
        rows = _reevaluate(args)
    else:
        rows = RD.rescore_study(args.db, [(m, c) for m in modes for c in comps], robust=not args.moment)
    RD.write_rows(Path(args.out), rows)
    for s in RD.summarize(rows):
        print(f"{s['detector']:10s} {s['dataset']:14s} {s['preset']:6s} combine={s['combine']:12s} "
              f"components={s['components']:14s} mean ROC-AUC {s['mean_roc_auc']:.4f} "
              f"({s['runs']} runs, {s['seeds']} seed(s))")
    failed = [r for r in rows if r.get("error")]
    if failed:
        print(f"rescore: {len(failed)} of {len(rows)} runs not rescored (the error column of {args.out} says why), "
              f"e.g. {failed[0]['hash']}: {failed[0]['error']}", file=sys.stderr)
    return 0


def _record(args: argparse.Namespace) -> int:
    """``rescore --db --record``: each --components recombination stored as a score variant of the runs."""
    from adcgan.evaluation import rescore_db as RD

    if args.set or args.moment or not args.components:
        raise ValueError("--record stores --components recombinations (with the runs' own calibration): name "
                         "--components, leave out --set and --moment")
    if args.combine and len(args.combine) > 1:
        raise ValueError("--record takes at most one --combine (default: each run's own)")
    combine = {"combine": args.combine[0]} if args.combine else {}
    rows = RD.record_study_variants(args.db, [{**combine, "components": c} for c in args.components])
    RD.write_rows(Path(args.out), rows)
    gone = sum(r["error"] == "no run folder" for r in rows)
    failed = sum(bool(r["error"]) for r in rows) - gone
    print(f"rescore: recorded {len(rows) - gone - failed} score variant(s) in {args.db}; {gone} marked not "
          f"measurable (run folder gone); {failed} that do not apply (the error column of {args.out})",
          file=sys.stderr)
    return 0


def _reevaluate(args: argparse.Namespace) -> list[dict]:
    """``rescore --db --set``: every run's model evaluated again (reports in OUT's stem + ``_runs/``)."""
    from adcgan.evaluation.reevaluate import reevaluate_study

    if args.combine or args.components or args.moment:
        raise ValueError("--set evaluates each model with its own combination: leave out --combine, "
                         "--components and --moment")
    out = Path(args.out)
    return reevaluate_study(args.db, parse_set(args.set), out.parent / f"{out.stem}_runs",
                            progress=sys.stderr.isatty())


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": cmd_train, "evaluate": cmd_evaluate, "score": cmd_score, "export": cmd_export, "info": cmd_info,
    "bench": cmd_bench, "rescore": cmd_rescore}


def run_guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a handler; turn expected failures into one clear message and a non-zero exit code."""
    from adcgan.data import DataError
    from adcgan.detectors.checkpoint import CheckpointError
    from adcgan.training.loop import TrainingDivergedError

    try:
        return handler(args)
    except KeyboardInterrupt:
        print("adcgan: interrupted; the last epoch checkpoint is kept (train again with --resume)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`adcgan bench status | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except (DataError, CheckpointError, TrainingDivergedError, FileExistsError, FileNotFoundError,
            ValueError, TypeError, RuntimeError) as exc:
        print(f"adcgan: error: {exc}", file=sys.stderr)
        return 2
