"""The ``adcgan`` argument parser: train, evaluate, score, export, rescore, info, bench."""
from __future__ import annotations

import argparse
from typing import Any

from adcgan import __version__
from adcgan.evaluation.protocols import SCHEMES, TEST_SETS
from adcgan.training.precision import PRECISIONS


def _common(p: argparse.ArgumentParser) -> None:
    """Flags of every command that loads data or a model: data folder, device, batch size, progress."""
    p.add_argument("--data-dir", help="folder holding the data set files (else ADCGAN_DATA, cache, system paths)")
    p.add_argument("--device", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch-size", type=int, help="training (train) or scoring (evaluate/score) batch size")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--compile", dest="compile_scoring", action="store_true", default=None,
                   help="torch.compile the scoring pass (10-60 s to compile; not faster than the default "
                        "inference copies on a 2-core CPU, measure with bench/speed.py --compile)")


def _data_flags(p: argparse.ArgumentParser) -> None:
    """Flags that pick the data set, protocol and test set of a run."""
    from adcgan.data import list_datasets

    p.add_argument("--dataset", help=f"one of {', '.join(list_datasets() + ['user'])} (default fashion-mnist)")
    p.add_argument("--scheme", choices=SCHEMES, help="protocol (default one-vs-all)")
    p.add_argument("--class", dest="cls", help="class index or name, e.g. 1 or Trouser (default 1)")
    p.add_argument("--seed", type=int, help="seeds split, init, z draws and scores (default 0)")
    p.add_argument("--test-set", choices=TEST_SETS, help="standard: test split only (default); "
                   "paper: anomalies from train+test splits as the released code; holdout: development "
                   "protocol on held-out training images, the test split is not read")
    p.add_argument("--preprocess", choices=("paper", "none"), help="paper: pad+resize as the released code (default)")
    p.add_argument("--max-test-images", type=int, help="stratified seeded test subset (budget cut, recorded)")
    p.add_argument("--train-dir", help="dataset 'user': folder of normal training images")
    p.add_argument("--test-normal-dir", help="dataset 'user': folder of normal test images")
    p.add_argument("--test-anomalous-dir", help="dataset 'user': folder of anomalous test images")
    p.add_argument("--geometry", help="folder/user data: HxWxC to resize to, one of 28x28x1, 32x32x3, 64x64x3 "
                   "(default: the first image's size)")


def _add_train(sub: Any) -> None:
    """``adcgan train``."""
    from adcgan.registry import list_detectors

    t = sub.add_parser("train", help="train a detector, evaluate it on the test split, write a report folder")
    t.add_argument("--config", help="TOML or YAML file of settings (flags override it)")
    t.add_argument("--detector", choices=list_detectors(), help="default adcgan")
    _data_flags(t)
    t.add_argument("--epochs", type=int, help="main epochs (paper: 15 one-vs-all, 35 all-vs-one)")
    t.add_argument("--warmup-epochs", type=int, help="warm-up epochs (paper: 5 one-vs-all, 15 all-vs-one)")
    t.add_argument("--max-train-images", type=int, help="cap on training images (budget cut, recorded)")
    t.add_argument("--variant", choices=("paper", "official", "plus"),
                   help="adcgan: paper (default), official (released-code behaviours) or plus (adcgan+)")
    t.add_argument("--latent-dim", type=int, help="latent size (default 100; 200 for 64x64)")
    t.add_argument("--num-threads", type=int, help="torch CPU threads")
    t.add_argument("--precision", choices=PRECISIONS, help="training arithmetic: fp32 (default) or bf16 mixed "
                   "precision (changes the arithmetic; CPUs with AVX-512/AMX, CUDA GPUs with bf16)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any detector setting, repeatable")
    t.add_argument("--out", required=True, help="new report folder (refuses to overwrite)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    _common(t)


def _add_evaluate(sub: Any) -> None:
    """``adcgan evaluate``."""
    e = sub.add_parser("evaluate", help="evaluate a saved model on a protocol's test set")
    e.add_argument("--model", required=True, help="model folder (or a run folder containing model/)")
    e.add_argument("--config", help="TOML or YAML file of settings")
    _data_flags(e)
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a scoring setting of the trained model, repeatable (e.g. flip_average=false, "
                        "lfl_draws=8, combine=raw); the calibration is refitted on the normal validation split")
    e.add_argument("--out", required=True, help="new report folder")
    _common(e)


def _add_rescore(sub: Any) -> None:
    """``adcgan rescore``."""
    r = sub.add_parser("rescore", help="re-score finished runs with another combination of their stored "
                       "components (no network pass)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a run folder of train/evaluate (scores.csv + model/)")
    src.add_argument("--db", help="a bench study database: every finished run")
    r.add_argument("--combine", action="append", default=None, metavar="MODE",
                   help="raw, standardized, typicality or mixed (repeatable with --db; default mixed)")
    r.add_argument("--components", action="append", default=None, metavar="LIST",
                   help="components to combine: 'all' (default), a comma list, or '-LFL,-ROT' for all but "
                        "those (repeatable with --db)")
    r.add_argument("--moment", action="store_true", help="calibrate with mean/sd instead of median/MAD")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --db: evaluate every run's saved model again under these scoring settings (a "
                        "network pass, no retraining; e.g. knn_rotations=true); reports go to OUT's stem + _runs/")
    r.add_argument("--record", action="store_true",
                   help="with --db: also store each --components recombination as a score variant of every "
                        "finished run (the study page's candidates read them), where it is not there yet")
    r.add_argument("--out", required=True, help="--run: new report folder; --db: new CSV of per-run ROC-AUCs")


def _add_bench(sub: Any) -> None:
    """``adcgan bench`` (left out when its modules cannot be imported)."""
    try:
        from adcgan.cli.bench import add_bench_parser
    except ImportError:
        return
    add_bench_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands train, evaluate, score, export, rescore, info, bench)."""
    from adcgan.cli.score import add_score_parsers

    parser = argparse.ArgumentParser(prog="adcgan", description="AD-CGAN anomaly detection (Sevyeri & Fevens 2021)")
    parser.add_argument("--version", action="version", version=f"adcgan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    add_score_parsers(sub, _common)  # score, export
    _add_rescore(sub)
    i = sub.add_parser("info", help="data sets found on this machine and available detectors")
    _common(i)
    _add_bench(sub)
    return parser
