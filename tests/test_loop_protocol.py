"""The fit loop depends only on :class:`adcgan.training.protocol.Trainable`, not on the detector base class."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adcgan.config import DetectorConfig
from adcgan.detectors.base import BaseDetector
from adcgan.training.loop import fit_loop


class MeanModel:
    """Not a detector: one weight pulled towards the mean pixel by SGD on the squared error."""

    name = "mean"

    def __init__(self) -> None:
        self.config = DetectorConfig(epochs=2, warmup_epochs=1, batch_size=4, seed=0, fast_training=False)
        self.nets = nn.ModuleDict({"m": nn.Linear(1, 1, bias=False)})
        nn.init.zeros_(self.nets["m"].weight)
        self.optimizers: dict[str, Any] = {"m": torch.optim.SGD(self.nets.parameters(), lr=0.5)}
        self.train_info: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.epochs_started: list[int] = []

    def train_step(self, x: torch.Tensor, epoch: int) -> dict[str, float]:
        w = self.nets["m"].weight.squeeze()
        loss = ((x.mean() - w) ** 2)
        self.optimizers["m"].zero_grad()
        loss.backward()
        self.optimizers["m"].step()
        return {"loss": loss.detach().item()}

    def set_train(self, mode: bool) -> None:
        self.nets.train(mode)

    def on_epoch_start(self, epoch: int, data: torch.Tensor) -> None:
        self.epochs_started.append(epoch)


def test_fit_loop_trains_any_trainable(tmp_path: Path) -> None:
    model = MeanModel()
    assert not isinstance(model, BaseDetector)
    data = torch.full((8, 1, 2, 2), 0.5)  # every batch's mean pixel is 0.5
    history = fit_loop(model, data, tmp_path, progress=False)
    # SGD on (0.5 - w)^2 with lr 0.5: w <- w + (0.5 - w), so w = 0.5 after the first step and stays there
    assert model.nets["m"].weight.item() == 0.5
    assert [h["loss"] for h in history] == [0.125, 0.0, 0.0]  # epoch 1: steps with losses 0.25 and 0.0
    assert model.epochs_started == [0, 1, 2] and model.train_info["epochs_done"] == 3
    assert [json.loads(line)["phase"] for line in (tmp_path / "history.jsonl").read_text().splitlines()] == [
        "warm-up", "train", "train"]
    assert (tmp_path / "checkpoint.pt").is_file()
