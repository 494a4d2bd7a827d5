"""Writing a study's table (markdown and CSV), its raw results (JSON) and its figures (PNG).

The table text comes from :func:`nhtad.utils.tables.format_table`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..utils.tables import format_table

__all__ = [
    "write_outputs",
    "check_outputs_free",
    "checkpoint_folder",
    "check_checkpoint_seed",
]


def _jsonable(obj, *, keep_nan=False):
    """``obj`` in plain Python types for JSON; NaN and inf become None unless ``keep_nan``.

    Strict JSON (the published ``.json`` outputs) has no NaN; a checkpoint keeps them, since
    Python's json reads them back exactly.
    """
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, keep_nan=keep_nan) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v, keep_nan=keep_nan) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), keep_nan=keep_nan)
    if isinstance(obj, np.generic):
        return _jsonable(obj.item(), keep_nan=keep_nan)
    if isinstance(obj, float) and not math.isfinite(obj) and not keep_nan:
        return None
    return obj


def _existing_outputs(out: Path, stem: str) -> list[Path]:
    names = [out / f"{stem}.{ext}" for ext in ("md", "csv", "json")]
    return [p for p in names if p.exists()] + sorted(out.glob(f"{stem}_*.png"))


def check_outputs_free(out, stem, *, overwrite=False) -> None:
    """Refuse, before a study runs, to write over the outputs of an earlier one.

    Raises
    ------
    FileExistsError
        If ``out`` holds ``stem.md/.csv/.json`` or ``stem_*.png`` and ``overwrite`` is false.
    """
    if out is None or overwrite:
        return
    existing = _existing_outputs(Path(out), stem)
    if existing:
        names = ", ".join(p.name for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
        raise FileExistsError(
            f"{out} already holds the outputs of a study ({names}); pass overwrite=True "
            "(--force) to replace them, or choose another output folder."
        )


def write_outputs(
    out, stem, *, title, table, result, command, notes, figures, sections=(), overwrite=False
):
    """Write ``stem.md``, ``stem.csv``, ``stem.json`` and ``stem_<figure>.png`` into ``out``.

    ``sections`` are further ``(heading, text, table)`` parts of the markdown page, after the
    main table (the CSV holds the main table only).

    Each file is written to a temporary name and renamed into place
    (:func:`~nhtad.utils.atomic.atomic_output`); earlier outputs are refused unless
    ``overwrite``. Returns the list of written paths.
    """
    from .. import plotting
    from ..utils.atomic import atomic_output

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_outputs_free(out, stem, overwrite=overwrite)
    written = []
    seconds = result.get("seconds", float("nan"))
    md = [
        f"# {title}",
        "",
        f"Made by `{command}` in {seconds / 60:.1f} min." if command else "",
        "",
        notes,
        "",
        format_table(table),
        "",
    ]
    for name in figures:
        md.append(f"![{name}]({stem}_{name}.png)")
    for heading, text, rows in sections:
        md += ["", f"## {heading}", "", text, "", format_table(rows)]
    path = out / f"{stem}.md"
    with atomic_output(path, overwrite=overwrite, mode="w") as fh:
        fh.write("\n".join(md).rstrip() + "\n")
    written.append(path)

    path = out / f"{stem}.csv"
    with atomic_output(path, overwrite=overwrite, mode="w") as fh:
        # "\r\n", the csv module's own default, which the published study tables were written
        # with: regenerated files stay byte-identical.
        fh.write(format_table(table, fmt="csv", lineterminator="\r\n"))
    written.append(path)

    path = out / f"{stem}.json"
    with atomic_output(path, overwrite=overwrite, mode="w") as fh:
        fh.write(json.dumps(_jsonable(result | {"command": command}), indent=1))
    written.append(path)

    for name, fig in figures.items():
        written.append(plotting.save_figure(fig, out / f"{stem}_{name}.png", overwrite=overwrite))
    return written


def check_checkpoint_seed(random_state, what):
    """Refuse a checkpointed study whose root seed is not an int: a rerun must redo ``what``
    (its realisations, samples) with the same seeds to reuse the finished ones."""
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(
            f"a checkpoint needs an int random_state, got {random_state!r}: the {what} of a "
            "rerun must be the same ones."
        )


def checkpoint_folder(checkpoint):
    """The study's checkpoint folder as a Path (created), or None for no checkpoints."""
    if checkpoint is None:
        return None
    folder = Path(checkpoint)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"checkpoint must be a folder; {folder} is a file.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
