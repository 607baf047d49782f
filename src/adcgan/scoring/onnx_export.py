"""ONNX export of a detector's scoring graph (optional extra: ``pip install adcgan[onnx]``).

The graph takes a uint8 batch ``images`` of shape (N, H, W, C), N dynamic and (H, W, C)
the model's geometry (the layout of ``score_samples``' NumPy input), converts it to
float NCHW in [0, 1] inside the graph, and returns one float32 (N,) output per score
component, ``score`` (the total) included, named as in ``score_components``.

It is traced from the detector's own ``score_batch`` running on plain eval copies of the
networks (:func:`adcgan.scoring.inference.plain_copy`: spectral norm baked in, BatchNorm folded;
0-d bool flags made constants), with the fixed scoring state of ``prepare_scoring`` (AD-CGAN's K draws of z for LFL)
stored as constants. Detectors whose scoring is not one forward pass cannot be exported:
ADGAN optimises z at test time, OC-SVM is a scikit-learn model.
"""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from adcgan import torch_compat
from adcgan.scoring.inference import plain_copy

if TYPE_CHECKING:
    from adcgan.detectors.base import BaseDetector

NOT_EXPORTABLE = {"adgan": "ADGAN optimises latent codes per image at test time (gradient steps, not a "
                           "fixed graph)",
                  "ocsvm": "OC-SVM scores with a scikit-learn model, not a torch graph"}


class ExportError(ValueError):
    """The detector cannot be exported to ONNX, or the ONNX tools are missing."""


class ScoringGraph(nn.Module):
    """uint8 NHWC images -> the detector's score components, as one ``nn.Module``."""

    def __init__(self, det: "BaseDetector") -> None:
        super().__init__()
        det.set_train(False)
        det.prepare_scoring()
        self.det = det
        self.nets = _freeze_flags(nn.ModuleDict({k: plain_copy(v) for k, v in det.nets.items()}))
        self.state = sorted(det.scoring_state)
        for k in self.state:  # score_batch reads its scoring state from these buffers (see forward)
            self.register_buffer(f"state_{k}", det.scoring_state[k].detach().clone())
        h, w, c = det.geometry
        with torch.no_grad(), det.running_on(self.nets, self._state()):
            probe = det.score_batch(torch.zeros(2, c, h, w, device=det.device))
        self.names = list(probe)
        self.terms = _calibrated_terms(det)  # (name, loc, scale, two-sided) of a calibrated total
        if self.terms:
            self.names.append("score_raw")

    def _state(self) -> dict[str, Tensor]:
        return {k: getattr(self, f"state_{k}") for k in self.state}

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """(N, H, W, C) uint8 -> one (N,) float32 tensor per component, in :attr:`names` order."""
        x = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0
        with self.det.running_on(self.nets, self._state()):
            comps = dict(self.det.score_batch(x))
        if self.terms:  # the same combination as BaseDetector.combine_components
            comps["score_raw"] = comps["score"]
            zs = [(comps[n].double() - loc) / scale for n, loc, scale, _ in self.terms]
            comps["score"] = sum(z.abs() if two else z for z, (_, _, _, two) in zip(zs, self.terms)) / len(zs)
        return tuple(comps[k].to(torch.float32) for k in self.names)


def _calibrated_terms(det: "BaseDetector") -> list[tuple[str, float, float, bool]]:
    """The calibrated combination's terms; empty for ``combine="raw"``."""
    mode = det.config.combine
    if mode == "raw":
        return []
    two = set(det.two_sided_components)
    return [(n, det.calibration[n]["loc"], det.calibration[n]["scale"],
             mode == "typicality" or (mode == "mixed" and n in two)) for n in det.combined_names()]


def _freeze_flags(module: nn.Module) -> nn.Module:
    """Turn 0-d bool buffers (state flags such as Deep SVDD's ``ready``) into Python constants.

    A traced graph cannot branch on a tensor; the flags are fixed once a model is trained.
    """
    for sub in module.modules():
        for name, buf in list(sub.named_buffers(recurse=False)):
            if buf.dim() == 0 and buf.dtype == torch.bool:
                delattr(sub, name)
                setattr(sub, name, bool(buf))
    return module


def _check_exportable(det: "BaseDetector") -> None:
    if det.name in NOT_EXPORTABLE or not det.inference_scoring:
        why = NOT_EXPORTABLE.get(det.name, "its scoring is not a pure forward pass of its networks")
        raise ExportError(f"{det.name} cannot be exported to ONNX: {why}")
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"ONNX export needs the onnx extra ({exc.name} is missing): "
                          "pip install 'adcgan[onnx]'") from None


def _to_onnx(graph: ScoringGraph, example: Tensor, opset: int) -> Any:
    """Trace with ``torch.export`` (strict: keeps ``len(x)`` symbolic) and convert to ONNX."""
    batch = torch.export.Dim("batch", min=1)
    registry_log = logging.getLogger(torch_compat.ONNX_REGISTRATION_LOGGER)
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping ..." x4
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)  # torch-internal deprecations
            program = torch.export.export(graph, (example,), dynamic_shapes=({0: batch},), strict=True)
            return torch.onnx.export(program, input_names=["images"], output_names=graph.names,
                                     opset_version=opset, dynamo=True, optimize=True, verbose=False)
    finally:
        registry_log.setLevel(level)


def export_onnx(det: "BaseDetector", out: str | Path, opset: int = 18) -> list[str]:
    """Write ``det``'s scoring graph to ``out`` (a new file).

    Args:
        det: A fitted detector (moved to CPU for the export).
        out: The ``.onnx`` file to create.
        opset: ONNX opset version.

    Returns:
        The output names (the score components, ``score`` included).

    Raises:
        ExportError: for a detector that cannot be exported or missing ONNX packages.
        FileExistsError: if ``out`` exists (it is never overwritten).
    """
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another output file")
    _check_exportable(det)
    if det.device.type != "cpu":
        raise ExportError("export a model loaded on the CPU (load it with device='cpu')")
    graph = ScoringGraph(det).eval()
    h, w, c = det.geometry
    example = torch.randint(0, 256, (2, h, w, c), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    program = _to_onnx(graph, example, opset)
    _save_new(program, out, {"adcgan_detector": det.name, "adcgan_geometry": f"{h}x{w}x{c}",
                             "adcgan_threshold": repr(det.threshold), "adcgan_outputs": ",".join(graph.names)})
    return graph.names


def _save_new(program: Any, out: Path, props: dict[str, str]) -> None:
    """Save to a temporary file with metadata, then link it into place (fails if ``out`` appeared)."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        program.save(tmp)
        model = onnx.load(tmp)
        onnx.helper.set_model_props(model, props)
        onnx.save(model, tmp)
        os.link(tmp, out)  # unlike a rename, never replaces an existing file
    finally:
        os.unlink(tmp)
