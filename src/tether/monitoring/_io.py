"""Reading batches from files: CSV (standard library) and Parquet (pyarrow, optional)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from tether.errors import InvalidInput

__all__ = ["read_table"]


def read_table(path: str | Path) -> dict[str, np.ndarray]:
    """Read a CSV or Parquet file into named columns.

    CSV: the first line names the columns; a column whose non-empty cells all parse as
    numbers becomes float (empty cells NaN), any other column text (empty cells None).

    Raises:
        InvalidInput: the file is missing, empty, has a line with the wrong number of
            fields, or is Parquet without pyarrow installed.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such file")
    if p.suffix.lower() in (".parquet", ".pq"):
        return _parquet(p)
    return _csv(p)


def _csv(p: Path) -> dict[str, np.ndarray]:
    with p.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput(
                f"{p}: the file is empty; the first line names the columns"
            ) from None
        columns: list[list[str]] = [[] for _ in header]
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise InvalidInput(
                    f"{p}:{reader.line_num}: expected {len(header)} fields, found {len(row)} "
                    "(a broken line: fix or drop it)"
                )
            for cells, cell in zip(columns, row, strict=True):
                cells.append(cell)
    return {name.strip(): _column(cells) for name, cells in zip(header, columns, strict=True)}


def _column(cells: list[str]) -> np.ndarray:
    values: list[float] = []
    for cell in cells:
        text = cell.strip()
        if not text:
            values.append(math.nan)
            continue
        try:
            values.append(float(text))
        except ValueError:
            return np.asarray([c if c.strip() else None for c in cells], dtype=object)
    return np.asarray(values, dtype=np.float64)


def _parquet(p: Path) -> dict[str, np.ndarray]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise InvalidInput(
            f"{p}: reading Parquet needs pyarrow: pip install 'tether[parquet]'"
        ) from None
    table: Any = pq.read_table(p)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
