"""The one training loop every detector shares (pyod ``base_dl`` style).

Detectors only build networks, optimisers, a train step and a score; this
module owns epochs, batching, seeding, progress bars, JSONL history,
per-epoch atomic checkpoints, resume and the NaN/inf guard; it calls the step through
:func:`adcgan.training.graphs.step_runner` (eager, or CUDA graphs). On the CPU fast path
(``fast_training``) the epochs run with freed buffers kept for reuse
(:func:`adcgan.training.memory.reuse_freed_memory`); with ``precision="bf16"`` under bf16 autocast
(:mod:`adcgan.training.precision`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterator

import torch
from adcgan.io.files import atomic_torch_save
from adcgan.training.memory import reuse_freed_memory
from adcgan.io.progress import progress as progress_bar, progress_write
from adcgan.training.graphs import Losses, StepFn, step_runner
from adcgan.training.precision import check_precision, step_autocast
from adcgan.io.tensors import to_float

if TYPE_CHECKING:
    from adcgan.training.protocol import Trainable

CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.jsonl"
CHECK_EVERY = 10
"""Steps between the loop's reads of the losses (NaN/inf guard, progress): the step itself never waits
for the device (:mod:`adcgan.training.graphs`); a diverged step is still named exactly."""


class TrainingDivergedError(RuntimeError):
    """Raised when a loss becomes NaN or infinite; the last good checkpoint is kept."""


def _save_checkpoint(det: "Trainable", run_dir: Path, epoch: int, gen: torch.Generator) -> None:
    state = {
        "epoch": epoch,
        "nets": {k: v.state_dict() for k, v in det.nets.items()},
        "optimizers": {k: v.state_dict() for k, v in det.optimizers.items()},
        "torch_rng": torch.get_rng_state(),
        "batch_rng": gen.get_state(),
        "train_info": dict(det.train_info),
        "config": json.dumps(det.config.to_dict()),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    atomic_torch_save(state, run_dir / CHECKPOINT_NAME)


def _load_checkpoint(det: "Trainable", run_dir: Path, gen: torch.Generator) -> int:
    """Restore nets, optimisers and RNGs; return the number of finished epochs."""
    state = torch.load(run_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    saved = json.loads(state["config"])
    mine = det.config.to_dict()
    # a setting the checkpoint lacks was added after it was written: it matches at the setting's default
    defaults = {f.name: f.default for f in dataclasses.fields(det.config)}
    diff = sorted(k for k in mine if k not in ("device", "epochs", "num_threads")
                  and saved.get(k, defaults.get(k)) != mine[k])
    if diff:
        raise ValueError(f"cannot resume from {run_dir / CHECKPOINT_NAME}: settings differ ({', '.join(diff)})")
    for k, net in det.nets.items():
        net.load_state_dict(state["nets"][k])
    for k, opt in det.optimizers.items():
        opt.load_state_dict(state["optimizers"][k])
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state["batch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    det.train_info.update(state["train_info"])
    return int(state["epoch"])


def training_memory(det: "Trainable") -> ContextManager[None]:
    """The allocator setting training steps run under: freed buffers kept for reuse on the CPU fast path."""
    return reuse_freed_memory(det.device.type == "cpu" and det.config.fast_training)


@contextlib.contextmanager
def training_context(det: "Trainable") -> Iterator[None]:
    """What the fit loop's epochs run under: :func:`training_memory` and the step's autocast
    (``precision``, :mod:`adcgan.training.precision`; raises ``ValueError`` where it cannot run)."""
    check_precision(det.config.precision, det.device)
    with training_memory(det), step_autocast(det.config.precision, det.device):
        yield


def _check_finite(losses: dict[str, float], epoch: int, step: int, run_dir: Path | None) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad:
        kept = f"; the last good checkpoint is kept in {run_dir / CHECKPOINT_NAME}" if run_dir else ""
        raise TrainingDivergedError(
            f"training diverged: loss {', '.join(bad)} is not finite at epoch {epoch + 1}, step {step}{kept}")


def _add_block(sums: dict[str, float], names: list[str], block: torch.Tensor, epoch: int, first_step: int,
               run_dir: Path | None) -> None:
    """Check each step of ``block`` (steps x losses, from ``first_step`` on) in order and add it to ``sums``."""
    for i, row in enumerate(block.tolist()):
        losses = dict(zip(names, row))
        _check_finite(losses, epoch, first_step + i, run_dir)
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v


def _loss_row(losses: Losses) -> torch.Tensor:
    """A step's losses as one float64 vector, on the device when they are device tensors (no wait)."""
    values = list(losses.values())
    if values and all(isinstance(v, torch.Tensor) for v in values):
        return torch.stack([v.detach().reshape(()).double() for v in values])  # type: ignore[union-attr]
    return torch.tensor([float(v) for v in values], dtype=torch.float64)


def _start_epoch(det: "Trainable", run_dir: Path | None, resume: bool, gen: torch.Generator) -> int:
    """0, or the epoch after the one saved in ``run_dir`` when resuming (restores ``det`` and ``gen``)."""
    if run_dir is None:
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / CHECKPOINT_NAME).exists():
        return _load_checkpoint(det, run_dir, gen)
    return 0


def _record_epoch(det: "Trainable", epoch: int, n_data: int, secs: float,
                  means: dict[str, float]) -> dict[str, Any]:
    """Add one finished epoch to ``det.train_info`` and return its history record."""
    cfg = det.config
    n_img = (n_data // cfg.batch_size) * cfg.batch_size  # the loop drops the last partial batch
    info = det.train_info
    info["epochs_done"] = epoch + 1
    info["images_seen"] = info.get("images_seen", 0) + n_img
    info["train_seconds"] = info.get("train_seconds", 0.0) + secs
    return {"epoch": epoch + 1, "phase": "warm-up" if epoch < cfg.warmup_epochs else "train",
            "seconds": round(secs, 3), "images_per_s": round(n_img / max(secs, 1e-9), 2), **means}


def _run_epoch(det: "Trainable", step_fn: StepFn, data: torch.Tensor, epoch: int, gen: torch.Generator,
               run_dir: Path | None, progress: bool) -> dict[str, float]:
    bs = det.config.batch_size
    perm = torch.randperm(len(data), generator=gen)
    n_batches = len(data) // bs  # drop_last, as the paper's loaders: BN needs full batches
    sums: dict[str, float] = {}
    window: list[torch.Tensor] = []  # the losses of the steps since the last check, still on the device
    phase = "warm-up" if epoch < det.config.warmup_epochs else "train"
    total = det.config.warmup_epochs + det.config.epochs
    bar = progress_bar(range(n_batches), desc=f"{det.name} epoch {epoch + 1}/{total} ({phase})",
                       enabled=progress, unit="batch")
    for step in bar:
        idx = perm[step * bs:(step + 1) * bs]
        x = to_float(data[idx].to(det.device, non_blocking=True), det.config.channels_last)
        losses = step_fn(x, epoch)
        window.append(_loss_row(losses))
        if len(window) == CHECK_EVERY or step == n_batches - 1:
            block = torch.stack(window).cpu()  # the one wait for the device per CHECK_EVERY steps
            _add_block(sums, list(losses), block, epoch, step + 1 - len(window), run_dir)
            window = []
            bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in sums.items()})
    return {k: v / max(n_batches, 1) for k, v in sums.items()}


def fit_loop(det: "Trainable", data: torch.Tensor, run_dir: Path | None = None,
             resume: bool = False, progress: bool = True) -> list[dict[str, Any]]:
    """Train ``det`` on ``data`` (NCHW uint8 or float in [0, 1]) for warm-up + main epochs.

    Args:
        det: A built detector (nets and optimisers exist).
        data: Training images, NCHW.
        run_dir: Where ``checkpoint.pt`` and ``history.jsonl`` go (``None``: nothing written).
        resume: Continue from ``run_dir/checkpoint.pt`` when it exists.
        progress: Show progress (a bar on a terminal, else one line per epoch).

    Returns:
        The per-epoch history records (also appended to ``history.jsonl``).
    """
    cfg = det.config
    if len(data) < cfg.batch_size:
        raise ValueError(f"need at least batch_size={cfg.batch_size} training images, got {len(data)}")
    check_precision(cfg.precision, det.device)
    step_fn = step_runner(det)  # one per fit (captured CUDA graphs live across epochs); refuses bad settings
    gen = torch.Generator().manual_seed(cfg.seed)
    start = _start_epoch(det, run_dir, resume, gen)
    history = []
    total = cfg.warmup_epochs + cfg.epochs
    for epoch in range(start, total):
        det.set_train(True)
        det.on_epoch_start(epoch, data)
        t0 = time.perf_counter()
        with training_context(det):
            means = _run_epoch(det, step_fn, data, epoch, gen, run_dir, progress)
        rec = _record_epoch(det, epoch, len(data), time.perf_counter() - t0, means)
        history.append(rec)
        if run_dir is not None:
            with open(run_dir / HISTORY_NAME, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            _save_checkpoint(det, run_dir, epoch + 1, gen)
        if progress:
            progress_write(f"[{det.name}] epoch {epoch + 1}/{total} " + " ".join(
                f"{k}={v:.4f}" for k, v in means.items()) + f" ({rec['images_per_s']:.0f} img/s)")
    det.set_train(False)
    return history
