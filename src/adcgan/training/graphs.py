"""How the fit loop calls a detector's training step: eagerly, or captured once as a CUDA graph and replayed.

A 28x28 AD-CGAN step at batch 32 launches a few thousand small kernels; on a GPU their launch cost, not
their arithmetic, bounds the step (issue 9). With ``DetectorConfig.cuda_graphs`` the fit loop captures the
step once per training phase (warm-up, main) with :class:`torch.cuda.CUDAGraph` and then replays it: one
launch per step. The same kernels run on the same tensors, so a replayed step is the eager step up to the
GPU's own run-to-run rounding (``tests/test_gpu.py``); the z draws and dropout masks come from the default
CUDA generator, whose offsets a graph advances exactly as the eager kernels would.

What a captured step needs, and what makes a detector eligible (``train_step_async``):

* no host synchronisation inside the step: the losses come back as 0-d device tensors, read by the loop
  every :data:`adcgan.training.loop.CHECK_EVERY` steps (AD-CGAN's ``train_step_async``);
* optimisers built with ``capturable=True`` (:func:`adcgan.detectors.helpers.optimizer_options`);
* fixed shapes: the loop drops the last partial batch, so every batch of a run has the same shape;
* a few eager steps on a side stream before the capture (:data:`GRAPH_WARMUP_STEPS` per phase), which
  create the optimiser state and the library handles the graph will use. They are real training steps on
  real batches: a run trains on the same batches in the same order with or without graphs.

Not yet measured on a GPU: none was lent to the sessions that wrote this (docs/speed.md, "On a GPU").
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

import torch
from torch import Tensor

if TYPE_CHECKING:
    from adcgan.training.protocol import Trainable

Losses = dict[str, Union[float, Tensor]]
StepFn = Callable[[Tensor, int], Losses]

GRAPH_WARMUP_STEPS = 3
"""Eager steps (on a side stream) per phase before its capture, as PyTorch's CUDA-graph recipe asks."""


def graph_support(detector: object, device: torch.device) -> str | None:
    """``None`` when ``detector`` (a detector or its class) can capture its training step as a CUDA graph on
    ``device``, else one sentence saying why not."""
    if device.type != "cuda":
        return f"cuda_graphs=True needs a CUDA device; this run trains on {device.type}"
    if not callable(getattr(detector, "train_step_async", None)):
        name = getattr(detector, "name", type(detector).__name__)
        return f"the {name} detector's training step cannot be captured as a CUDA graph (supported: adcgan)"
    return None


def check_graphs(detector: object, cuda_graphs: bool, device: torch.device) -> None:
    """Raise ``ValueError`` with one message when ``cuda_graphs`` is on and cannot be honoured."""
    why = graph_support(detector, device) if cuda_graphs else None
    if why is not None:
        raise ValueError(f"{why}; set cuda_graphs=false")


def step_runner(det: "Trainable") -> StepFn:
    """The function the fit loop (and ``bench/speed.py``) calls per batch: ``det.train_step_async`` where the
    detector has one (losses stay on the device), else ``det.train_step``; replayed CUDA graphs with
    ``cuda_graphs``."""
    check_graphs(det, det.config.cuda_graphs, det.device)
    if det.config.cuda_graphs:
        return GraphedSteps(det)
    return getattr(det, "train_step_async", None) or det.train_step


@dataclass
class _Captured:
    """One captured phase: the graph, the static input batch it reads and the static losses it writes."""

    graph: "torch.cuda.CUDAGraph"
    x: Tensor
    losses: dict[str, Tensor]


class GraphedSteps:
    """``det.train_step_async`` captured once per phase (warm-up epochs, main epochs) and replayed.

    Each call returns the step's losses as 0-d tensors that the next call overwrites: read or copy them first.
    """

    def __init__(self, det: "Trainable", warmup_steps: int = GRAPH_WARMUP_STEPS) -> None:
        self.det, self.warmup_steps = det, warmup_steps
        self.graphs: dict[bool, _Captured] = {}
        self.eager_steps: dict[bool, int] = {True: 0, False: 0}

    def __call__(self, x: Tensor, epoch: int) -> dict[str, Tensor]:
        phase = epoch < self.det.config.warmup_epochs
        captured = self.graphs.get(phase)
        if captured is not None:
            captured.x.copy_(x)
            captured.graph.replay()
            return captured.losses
        if self.eager_steps[phase] < self.warmup_steps:
            self.eager_steps[phase] += 1
            return self._side_stream_step(x, epoch)
        self.graphs[phase] = captured = self._capture(x, epoch)
        return captured.losses

    def _side_stream_step(self, x: Tensor, epoch: int) -> dict[str, Tensor]:
        """One eager step on a side stream (PyTorch's recipe for the steps before a capture)."""
        main = torch.cuda.current_stream(x.device)
        side = torch.cuda.Stream(x.device)
        side.wait_stream(main)
        with torch.cuda.stream(side), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*capturable=True.*")  # expected before the capture
            losses = self.det.train_step_async(x, epoch)  # type: ignore[attr-defined]
        main.wait_stream(side)
        return losses

    def _capture(self, x: Tensor, epoch: int) -> _Captured:
        """Capture one step reading a static copy of ``x``, then replay it for ``x`` (a capture runs nothing)."""
        static_x = x.clone()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            losses = self.det.train_step_async(static_x, epoch)  # type: ignore[attr-defined]
        graph.replay()
        return _Captured(graph, static_x, losses)
