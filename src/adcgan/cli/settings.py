"""Settings of the ``adcgan`` commands: config files, ``--set``, the one merge, run defaults.

Precedence everywhere: defaults < ``--config`` file < command-line flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from adcgan.evaluation.protocols import paper_epochs

if TYPE_CHECKING:  # pragma: no cover
    from adcgan.evaluation.experiment import RunSpec

RUN_FLAGS = ("detector", "dataset", "scheme", "cls", "seed", "test_set", "data_dir", "preprocess",
             "max_test_images")
"""Flags that go into the :class:`RunSpec` itself."""
DET_FLAGS = ("epochs", "warmup_epochs", "batch_size", "max_train_images", "device", "variant", "num_threads",
             "latent_dim", "compile_scoring", "precision")
"""Flags that go into the detector's config."""
_DEFAULTED = ("detector", "dataset", "scheme", "cls", "seed", "test_set", "preprocess")
_NOT_SETTINGS = ("config", "set", "command")
_USER_DIRS = {"train": "train_dir", "test_normal": "test_normal_dir", "test_anomalous": "test_anomalous_dir"}


def run_defaults() -> dict[str, Any]:
    """The defaults of ``detector``, ``dataset``, ``scheme``, ``cls``, ``seed``, ``test_set`` and ``preprocess``.

    Read from :class:`~adcgan.evaluation.experiment.RunSpec`, their one source (imported here, not at module
    level, so that building the parser stays light).
    """
    from adcgan.evaluation.experiment import RunSpec

    return {f.name: f.default for f in dataclasses.fields(RunSpec) if f.name in _DEFAULTED}


def load_config_file(path: str) -> dict[str, Any]:
    """Read a TOML (.toml) or YAML (.yaml/.yml) settings file into a flat dict (``-`` -> ``_``).

    Args:
        path: The settings file.

    Returns:
        The settings, ``class`` renamed ``cls``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Another suffix, or the file is not a table/mapping.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} not found")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        data = tomllib.loads(text)
    elif p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"config file {p} must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a table/mapping of settings")
    return {("cls" if k == "class" else k.replace("-", "_")): v for k, v in data.items()}


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["lam=0.2", "variant=official"]`` -> ``{"lam": 0.2, "variant": "official"}`` (JSON values, else text)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip().replace("-", "_")] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip().replace("-", "_")] = v
    return out


def merge_settings(args: argparse.Namespace, defaults: dict[str, Any], skip: Iterable[str] = (),
                   rename: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults <- ``--config`` file <- flags, with the ``--set`` items of both under ``"set"``.

    Args:
        args: Parsed command line (``config`` and ``set`` are read when present).
        defaults: Values used when neither the file nor a flag gives one.
        skip: More argument names that are not settings.
        rename: File keys to rename, e.g. ``{"cls": "classes"}``.

    Returns:
        The merged settings; flags left unset (``None``, or ``False`` of a switch) do not override.
    """
    file = load_config_file(args.config) if getattr(args, "config", None) else {}
    file = {(rename or {}).get(k, k): v for k, v in file.items()}
    ignored = {*_NOT_SETTINGS, *skip}
    flags = {k: v for k, v in vars(args).items() if v is not None and v is not False and k not in ignored}
    merged = {**defaults, **file, **flags}
    merged["set"] = {**(file.get("set") or {}), **parse_set(getattr(args, "set", None) or [])}
    return merged


def _user_dirs(m: dict[str, Any]) -> dict[str, Any] | None:
    """The three folders of dataset ``user``; ``None`` for every other dataset."""
    if m["dataset"] != "user":
        return None
    missing = [f"--{flag.replace('_', '-')}" for flag in _USER_DIRS.values() if not m.get(flag)]
    if missing:
        raise ValueError(f"dataset 'user' needs {', '.join(missing)}")
    return {key: m[flag] for key, flag in _USER_DIRS.items()}


def _geometry(value: Any) -> list[int] | None:
    """``"28x28x1"`` (or ``[28, 28, 1]``) -> ``[28, 28, 1]``; ``None`` stays ``None``."""
    if value is None:
        return None
    geo = str(value).lower().split("x") if not isinstance(value, list) else [str(v) for v in value]
    if len(geo) != 3 or not all(g.isdigit() for g in geo) or geo[2] not in ("1", "3"):
        raise ValueError(f"--geometry must look like 28x28x1, 32x32x3 or 64x64x3, got {value!r}")
    return [int(g) for g in geo]


def resolve_run_spec(args: argparse.Namespace, training: bool = True) -> "RunSpec":
    """Flags > config file > defaults -> a validated :class:`RunSpec`.

    Args:
        args: Parsed ``train`` or ``evaluate`` command line.
        training: Also fill the paper's epochs for the scheme and reject unknown detector settings.

    Returns:
        The run to do.
    """
    from adcgan.evaluation.experiment import RunSpec
    from adcgan.registry import get_detector_class

    m = merge_settings(args, run_defaults())
    run = {k: m[k] for k in RUN_FLAGS if k in m}
    run["user_dirs"] = _user_dirs(m)
    run["geometry"] = _geometry(m.get("geometry"))
    if isinstance(run.get("cls"), str) and run["cls"].lstrip("-").isdigit():
        run["cls"] = int(run["cls"])
    det_cfg = {k: m[k] for k in DET_FLAGS if m.get(k) is not None}
    det_cfg.update(m["set"])
    if training:
        ep, wu = paper_epochs(m["scheme"])
        det_cfg.setdefault("epochs", ep)
        det_cfg.setdefault("warmup_epochs", wu)
        fields = get_detector_class(run["detector"]).Config.field_names()
        bad = sorted(set(det_cfg) - set(fields))
        if bad:
            raise ValueError(f"unknown setting(s) for {run['detector']}: {', '.join(bad)}")
    return RunSpec(detector_config=det_cfg, **run)
