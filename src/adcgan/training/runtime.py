"""Where and how a run executes: the device, the seeds, the versions recorded with results."""
from __future__ import annotations

import platform
import random
from pathlib import Path

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``"auto"`` to cuda > mps > cpu; validate an explicit choice.

    Raises:
        ValueError: when the requested device is not available here.
    """
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but MPS is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def versions() -> dict[str, str]:
    """Versions recorded in checkpoints and reports."""
    from adcgan import __version__

    return {"adcgan": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def cpuinfo() -> dict[str, str]:
    """The first processor block of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows: recorded with every run."""
    return cpuinfo().get("model name") or platform.processor() or platform.machine()
