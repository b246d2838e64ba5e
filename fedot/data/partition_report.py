"""How skewed a split is: per-client label counts as a table, a number, and a picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fedot.data.partition import Labels


def label_histogram(labels: Labels, partitions: Sequence[np.ndarray], num_classes: int | None = None) -> np.ndarray:
    """Counts[client, class]: how many examples of each class each client holds (int64)."""
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    width = int(num_classes if num_classes is not None else array.max() + 1)
    return np.stack([np.bincount(array[part], minlength=width)[:width] for part in partitions]).astype(np.int64)


def label_skew(histogram: np.ndarray) -> float:
    """Mean total-variation distance between each non-empty client's label mix and the overall mix.

    0 for a perfectly IID split; near 1 when every client holds classes that are rare overall.
    """
    overall = histogram.sum(axis=0) / histogram.sum()
    sizes = histogram.sum(axis=1)
    mixes = histogram[sizes > 0] / sizes[sizes > 0, None]
    return float(0.5 * np.abs(mixes - overall).sum(axis=1).mean())


def format_label_histogram(histogram: np.ndarray) -> str:
    """A text table: one row per client (its size, then its count per class), a total row, the skew."""
    num_clients, num_classes = histogram.shape
    rows = [[f"client {i}", *map(str, [histogram[i].sum(), *histogram[i]])] for i in range(num_clients)]
    rows.append(["total", *map(str, [histogram.sum(), *histogram.sum(axis=0)])])
    header = ["", "n", *map(str, range(num_classes))]
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) if col else cell.ljust(width) for col, (cell, width) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(-1, "-" * len(lines[0]))
    lines.append(f"label skew (mean total-variation distance to the overall label mix): {label_skew(histogram):.3f}")
    return "\n".join(lines)


def plot_label_histogram(
    histogram: np.ndarray, path: str | Path, class_names: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Save a PNG of one stacked bar per client, one colour per class; returns the path.

    Uses matplotlib's Agg renderer directly, so it works without a display and
    leaves pyplot's global state alone.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    num_clients, num_classes = histogram.shape
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    colours = colormaps["tab10" if num_classes <= 10 else "tab20" if num_classes <= 20 else "turbo"]
    figure = Figure(figsize=(8, 1.5 + 0.35 * num_clients), layout="constrained")
    axes = figure.add_subplot()
    left = np.zeros(num_clients)
    for cls in range(num_classes):
        colour = colours(cls if num_classes <= 20 else cls / max(1, num_classes - 1))
        axes.barh(range(num_clients), histogram[:, cls], left=left, color=colour, label=names[cls])
        left += histogram[:, cls]
    axes.set_yticks(range(num_clients), [f"client {i}" for i in range(num_clients)])
    axes.invert_yaxis()
    axes.set_xlabel("examples")
    axes.set_title(title or f"label mix per client (skew {label_skew(histogram):.2f})")
    if num_classes <= 20:
        figure.legend(title="class", loc="outside right upper", fontsize="small")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
