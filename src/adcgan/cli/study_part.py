"""Which part of a study one ``adcgan bench`` driver runs: ``--stages`` and ``--only-detectors``.

The part is a selection of the study's planned runs; never-started rows are withdrawn against the whole
study, so a part run (say the cheap detectors, in a second driver beside a first one) leaves the rest of
the study planned and pending.
"""
from __future__ import annotations

from typing import Any


def as_list(v: Any) -> list[Any]:
    """A list from a list or a comma-separated string (blank items dropped)."""
    if isinstance(v, (list, tuple)):
        return list(v)
    return [x.strip() for x in str(v).split(",") if x.strip()]


def run_name(spec: Any) -> str:
    """``detector:variant`` for a detector with variants (``adcgan:paper``, ``adcgan:plus``); else the name."""
    variant = (spec.detector_config or {}).get("variant")
    if spec.detector == "adcgan":
        return f"adcgan:{variant or 'paper'}"
    return f"{spec.detector}:{variant}" if variant else spec.detector


def canonical(name: str) -> str:
    """A part's detector name in lower case, ``adcgan+`` read as ``adcgan:plus`` (the tables' label)."""
    name = name.strip().lower()
    return f"{name[:-1]}:plus" if name.endswith("+") else name


def select_part(study: list[Any], stages: Any = None, detectors: Any = None) -> list[Any]:
    """The planned runs of ``study`` in the given stages and of the given detectors (None: all).

    A detector is named alone (``adcgan``: every variant) or with its variant (``adcgan:paper``,
    ``adcgan:plus``, or ``adcgan+`` as the tables write it).
    """
    part = study
    if stages is not None:
        try:
            wanted = {int(v) for v in as_list(stages)}
        except ValueError:
            raise ValueError(f"--stages must be a comma list of integers, got {stages!r}") from None
        missing = sorted(wanted - {p.stage for p in study})
        if missing:
            raise ValueError(f"the study has no stage {', '.join(map(str, missing))}; its stages: "
                             f"{', '.join(map(str, sorted({p.stage for p in study})))}")
        part = [p for p in part if p.stage in wanted]
    if detectors is not None:
        names = {run_name(p.spec) for p in study} | {p.spec.detector for p in study}
        dets = [canonical(d) for d in as_list(detectors)]
        missing = sorted(set(dets) - names)
        if missing or not dets:
            raise ValueError(f"the study has no runs of {', '.join(missing) or '(no detector named)'}; its "
                             f"detectors: {', '.join(sorted(names))}")
        part = [p for p in part if p.spec.detector in dets or run_name(p.spec) in dets]
    return part


def part_text(m: dict[str, Any], study: list[Any], planned: list[Any]) -> str:
    """`` (stages 0, detectors ocsvm of the study's 730)`` when ``planned`` is a part; '' otherwise."""
    picked = [f"{k} {m[f]}" for k, f in (("stages", "stages"), ("detectors", "only_detectors")) if m.get(f)]
    return f" ({', '.join(picked)} of the study's {len(study)})" if len(planned) < len(study) else ""
