"""A contact sheet of the data: a few samples of every MedMNIST dataset on disk and every phantom kind.

One row per dataset (or phantom kind), a few random samples per row, each titled with its class
name. 3D volumes show their middle slice. Rendering uses matplotlib's Agg canvas directly (no pyplot,
no display needed), so it works on servers and in tests.

Command line (``medgrad gallery`` once wired into the CLI)::

    python -m tasks.data.gallery --out gallery.png [--data-dir DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tasks.data.medmnist import MedMNISTSplit, available_medmnist, load_medmnist

__all__ = ["main", "medmnist_rows", "phantom_rows", "render_gallery"]

_TITLE_CHARS = 22  # long class names ("immature granulocytes(...)") would overlap their neighbours


def _short(text: str) -> str:
    return text if len(text) <= _TITLE_CHARS else text[: _TITLE_CHARS - 1] + "\u2026"


def _label_text(split: MedMNISTSplit, i: int) -> str:
    """Class name(s) of sample ``i``: one name, or the positive findings of a multi-label sample."""
    row = split.labels[i]
    if split.task == "multi-label":
        names = [split.class_names[j] for j in np.flatnonzero(row)]
        return ", ".join(names) if names else "no finding"
    return split.class_names[int(row[0])]


def _displayable(image: np.ndarray) -> np.ndarray:
    """A 2D grey or (H, W, 3) RGB image from a stored sample (middle slice for a volume)."""
    if image.ndim == 3 and image.shape[-1] != 3:  # (D, H, W) volume
        return image[image.shape[0] // 2]
    return image


def medmnist_rows(data_dir: str | os.PathLike | None = None, seed: int = 0, n_per_row: int = 6,
                  size: int = 28) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """Rows for the sheet from the MedMNIST files found on disk: (row title, images, cell titles).

    ``data_dir`` given: only that folder (and its ``medmnist/`` subfolder) is searched; otherwise the
    standard search path of ``load_medmnist``. Samples come from the training split, drawn with
    ``numpy.random.default_rng(seed)``.
    """
    found = available_medmnist(data_dir, size=size, only_data_dir=data_dir is not None)
    rng = np.random.default_rng(seed)
    rows = []
    for name, path in found.items():
        # verify=False: the gallery shows whatever is on disk (subsets too); the structure is still checked
        split = load_medmnist(name, "train", size=size, data_dir=path.parent, verify=False)
        if len(split) == 0:
            continue
        picks = np.sort(rng.choice(len(split), size=min(n_per_row, len(split)), replace=False))
        images = [_displayable(split.images[i]) for i in picks]
        titles = [_short(_label_text(split, int(i))) for i in picks]
        suffix = " (mid slice)" if split.info.ndim == 3 else ""
        rows.append((split.info.title + suffix, images, titles))
    return rows


def _phantom_samples(seed: int) -> dict[str, list[np.ndarray]] | None:
    """``tasks.data.phantoms.gallery_samples(seed)``, or None (with a warning) when it is unavailable."""
    try:
        from tasks.data.phantoms import gallery_samples
    except ImportError as err:
        warnings.warn(f"render_gallery: phantom rows skipped, tasks.data.phantoms.gallery_samples is not "
                      f"importable ({err})", stacklevel=3)
        return None
    return gallery_samples(seed=seed)


def phantom_rows(seed: int = 0, n_per_row: int = 6) -> list[tuple[str, list[np.ndarray], list[str]]]:
    """Rows for the sheet from the phantom generators: one row per phantom kind."""
    samples = _phantom_samples(seed)
    if not samples:
        return []
    rows = []
    for kind, images in samples.items():
        images = [np.asarray(im) for im in list(images)[:n_per_row]]
        for im in images:
            if not (im.ndim == 2 or (im.ndim == 3 and im.shape[-1] == 3)):
                raise ValueError(f"render_gallery: phantom {kind!r} gave an image of shape {im.shape}; "
                                 f"expected (H, W) or (H, W, 3)")
        rows.append((f"phantom: {kind}", images, [f"#{i}" for i in range(len(images))]))
    return rows


def _show(ax, image: np.ndarray) -> None:
    if image.ndim == 2:
        if image.dtype == np.uint8:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:  # float phantoms: stretch each image to its own range
            ax.imshow(image, cmap="gray")
    else:
        if image.dtype != np.uint8:  # float RGB must lie in [0, 1] for imshow
            lo, hi = float(image.min()), float(image.max())
            image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image, dtype=np.float32)
        ax.imshow(image)


def render_gallery(out_path: str | os.PathLike, data_dir: str | os.PathLike | None = None, seed: int = 0,
                   n_per_row: int = 6, size: int = 28, include_phantoms: bool = True, dpi: int = 100) -> Path:
    """Render the sheet to a PNG file and return its path.

    Args:
        out_path: where to write the PNG (parent folders are created).
        data_dir: MedMNIST folder to show (only this one); None searches the standard locations.
        seed: seed for which samples are shown (and for the phantom generators).
        n_per_row: samples per dataset.
        size: MedMNIST image size to look for (28 by default: small files, fast).
        include_phantoms: add one row per phantom kind from ``tasks.data.phantoms.gallery_samples``.
        dpi: resolution of the PNG.

    Raises:
        FileNotFoundError: nothing to show (no MedMNIST file and no phantoms).
    """
    rows = medmnist_rows(data_dir, seed=seed, n_per_row=n_per_row, size=size)
    if include_phantoms:
        rows += phantom_rows(seed=seed, n_per_row=n_per_row)
    if not rows:
        where = data_dir if data_dir is not None else "the MedMNIST search folders"
        raise FileNotFoundError(f"render_gallery: no MedMNIST {size}x{size} file found in {where} and no "
                                f"phantoms to show")
    n_cols = max(len(images) for _, images, _ in rows)
    fig = Figure(figsize=(1.7 * n_cols + 1.6, 1.9 * len(rows)), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, (row_title, images, titles) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(images):
                ax.set_axis_off()
                continue
            _show(ax, images[c])
            ax.set_title(titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(row_title, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``medgrad gallery --out sheet.png [--data-dir DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(prog="medgrad gallery", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gallery.png", help="PNG file to write (default: gallery.png)")
    parser.add_argument("--data-dir", default=None,
                        help="MedMNIST folder to show (default: search the usual places)")
    parser.add_argument("--seed", type=int, default=0, help="which samples to show (default: 0)")
    parser.add_argument("--n-per-row", type=int, default=6, help="samples per dataset (default: 6)")
    parser.add_argument("--size", type=int, default=28, help="MedMNIST image size (default: 28)")
    parser.add_argument("--no-phantoms", action="store_true", help="leave out the phantom rows")
    args = parser.parse_args(argv)
    try:
        path = render_gallery(args.out, data_dir=args.data_dir, seed=args.seed, n_per_row=args.n_per_row,
                              size=args.size, include_phantoms=not args.no_phantoms)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
