"""Finding a dataset on disk.

Lookup order (first folder holding the dataset's files wins):

1. the explicit ``data_dir`` (the folder with the files themselves, or with a
   subfolder named like the dataset or its usual name, e.g.
   ``cifar-10-batches-py``); an explicit folder that does not hold the data is
   an error, never silently skipped;
2. ``$ADCGAN_DATA/<name>`` (a root with one subfolder per dataset);
3. the user cache ``$XDG_CACHE_HOME/adcgan/<name>`` (or ``~/.cache/adcgan/<name>``);
4. known system paths (``/usr/share/datasets/fashion-mnist``, ...);
5. ``shared/data/<name>`` in the current directory or any parent (and likewise
   above the installed package), where the project's CI keeps its copies.
"""
from __future__ import annotations

import os
from pathlib import Path

from adcgan.data.cache import cache_root
from adcgan.data.errors import DataError
from adcgan.data.formats import is_present
from adcgan.data.specs import DatasetSpec, get_spec

ENV_VAR = "ADCGAN_DATA"


def with_aliases(folder: Path, spec: DatasetSpec) -> list[Path]:
    """``folder`` itself, then its subfolders named like the dataset or an alias."""
    return [folder] + [folder / a for a in dict.fromkeys((spec.name, *spec.aliases))]


def under_root(root: Path, spec: DatasetSpec) -> list[Path]:
    """Candidates under a root with one subfolder per dataset."""
    return with_aliases(root / spec.name, spec) + [root / a for a in spec.aliases]


def shared_data_roots() -> list[Path]:
    """Existing ``shared/data`` folders above the working directory and the package."""
    starts = (Path.cwd().resolve(), Path(__file__).resolve().parent)
    roots = [p / "shared" / "data" for s in starts for p in (s, *s.parents)]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]


def search_places(spec: DatasetSpec, cache_dir: str | Path | None = None) -> list[tuple[str, list[Path]]]:
    """(description, candidate folders) in lookup order, without the explicit ``data_dir``."""
    env = os.environ.get(ENV_VAR)
    places = [(f"${ENV_VAR}/{spec.name}" + ("" if env else f" (${ENV_VAR} is not set)"),
               under_root(Path(env).expanduser(), spec) if env else [])]
    cache = cache_root(cache_dir) / spec.name
    places.append((f"user cache {cache}", with_aliases(cache, spec)))
    places += [(f"system path {p}", with_aliases(Path(p), spec)) for p in spec.system_paths]
    if spec.shared_subdir:
        roots = shared_data_roots()
        where = ", ".join(str(r / spec.shared_subdir) for r in roots) or "none found"
        places.append((f"shared/data/{spec.shared_subdir} above the working directory or package ({where})",
                       [c for r in roots for c in with_aliases(r / spec.shared_subdir, spec)]))
    return places


def describe_place(desc: str, candidates: list[Path]) -> str:
    """``desc`` with the folder spelled out when it differs from the description."""
    return desc if not candidates or str(candidates[0]) in desc else f"{desc}: {candidates[0]}"


def _first_present(spec: DatasetSpec, candidates: list[Path]) -> Path | None:
    return next((c for c in candidates if is_present(spec, c)), None)


def check_data_dir(spec: DatasetSpec, data_dir: str | Path) -> Path:
    """Resolve an explicit data folder.

    Raises:
        DataError: if neither it nor its usual subfolders hold the dataset.
    """
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist (expected {spec.expected})")
    found = _first_present(spec, with_aliases(folder, spec))
    if found is None:
        subs = ", ".join(dict.fromkeys((spec.name, *spec.aliases))) or "-"
        raise DataError(f"{folder} does not hold {spec.display_name}: expected {spec.expected} "
                        f"in it or in a subfolder named one of: {subs}")
    return found


def locate(spec: DatasetSpec, data_dir: str | Path | None = None,
           cache_dir: str | Path | None = None) -> tuple[Path | None, list[str]]:
    """Find ``spec`` following the lookup order.

    Returns:
        The folder (or None) and the human-readable list of places tried.

    Raises:
        DataError: if an explicit ``data_dir`` does not hold the dataset.
    """
    if data_dir is not None:
        return check_data_dir(spec, data_dir), [str(data_dir)]
    tried = []
    for desc, candidates in search_places(spec, cache_dir):
        tried.append(describe_place(desc, candidates))
        found = _first_present(spec, candidates)
        if found is not None:
            return found, tried
    return None, tried


def find_dataset(name: str, data_dir: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> Path | None:
    """Where ``name`` would be loaded from, or None (lookup only, nothing is downloaded).

    Raises:
        DataError: for an unknown dataset name.
    """
    spec = get_spec(name)
    try:
        return locate(spec, data_dir, cache_dir)[0]
    except DataError:
        return None


def not_found_error(spec: DatasetSpec, tried: list[str], download_error: str | None = None,
                    cache_dir: str | Path | None = None, download_tried: bool = False) -> DataError:
    """One DataError listing every place tried and how to provide the data."""
    lines = [f"{spec.display_name} ({spec.name}) was not found. Looked in:"]
    lines += [f"  - {t}" for t in tried]
    if download_error:
        lines.append(f"Download failed: {download_error}")
    elif not spec.resources:
        lines.append("There is no official download for this dataset.")
    lines.append(f"Provide {spec.expected}: pass the folder as data_dir (--data-dir), or put it in "
                 f"${ENV_VAR}/{spec.name}/ or in {cache_root(cache_dir) / spec.name}/.")
    if spec.apt_package:
        lines.append(f"On Debian/Ubuntu: sudo apt-get install {spec.apt_package} "
                     f"(installs {spec.system_paths[0]}).")
    if spec.resources and not download_tried:
        lines.append(f"Or download it (checksums verified): python -m adcgan.data fetch {spec.name}")
    return DataError("\n".join(lines))
