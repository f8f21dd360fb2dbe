"""The paper-shaped results table of a recipe, read from the stages' own JSON outputs.

Rows are measures (a task's metric in a language), columns the models compared (base and adapted, or each
COMMIT variant), then a column for a figure the user supplies (`--reference`, e.g. the paper's). Each cell
is the figure the stage wrote, its standard error and its n:
- proportions (accuracy, recall@1): binomial, sqrt(p (1 - p) / n);
- XQuAD/MLQA exact match and F1: the standard deviation of the per-example scores (`--log_samples`) / sqrt(n);
- perplexity: exp(NLL/token), its error by the delta method, perplexity x the NLL/token's standard error;
  bits per byte with the error the script reports (sentences as the units).
Written as results.md, results.csv (one line per cell) and results.png (2-standard-error whiskers).
"""
from __future__ import annotations

import csv
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import LangAdaptError
from .stage import Measure, Recipe, Stage
from .state import output_complete

REFERENCE = "reference"


@dataclass(frozen=True)
class Cell:
    row: str
    column: str
    value: float
    stderr: Optional[float]
    n: int
    source: str


def binomial_stderr(p: float, n: int, scale: float = 1.0) -> float:
    q = p / scale
    return scale * math.sqrt(max(q * (1 - q), 0.0) / n)


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _flores(stage: Stage, measure: Measure) -> Cell:
    path = stage.output_path
    result = _json(path)
    n = int(result["sentences"])
    if measure.key == "perplexity":
        value = result["perplexity"]
        return Cell(measure.row, measure.column, value, value * result["nll_per_token_stderr"], n, str(path))
    return Cell(measure.row, measure.column, result[measure.key], result[f"{measure.key}_stderr"], n, str(path))


def _proportion(stage: Stage, measure: Measure) -> Cell:
    path = stage.output_path
    result = _json(path)
    value, n = result["metrics"][measure.key], int(result["n_examples"])
    return Cell(measure.row, measure.column, value, binomial_stderr(value, n), n, str(path))


def _qa(stage: Stage, measure: Measure) -> Cell:
    """Exact match / F1 (0-100); the error from the per-example scores the stage logged."""
    path = stage.output_path
    result = _json(path)
    scores = [record[measure.key] for record in _jsonl(Path(str(stage.flags["--log_samples"])))]
    n = int(result["n_examples"])
    if len(scores) != n:
        raise LangAdaptError(f"{stage.flags['--log_samples']}: {len(scores)} samples for n_examples {n} in {path}")
    mean = sum(scores) / n
    stderr = math.sqrt(sum((s - mean) ** 2 for s in scores) / n / n)
    return Cell(measure.row, measure.column, result["metrics"][measure.key], stderr, n, str(path))


def _adaptation_eval(stage: Stage, measure: Measure) -> Cell:
    """run_adaptation's own FLORES dev retrieval: its step-0 evaluation (the base model) or its last."""
    path = stage.output_path / "metrics.jsonl"
    evals = [r for r in _jsonl(path) if r.get("kind") == "eval"]
    record = evals[0] if measure.column == "base" else evals[-1]
    if measure.column == "base" and record["step"] != 0:
        raise LangAdaptError(f"{path}: no step-0 evaluation to stand for the base model")
    n, value = int(record["num_pairs"]), record[measure.key]
    return Cell(measure.row, measure.column, value, binomial_stderr(value, n), n, f"{path} (step {record['step']})")


READERS = {"flores": _flores, "proportion": _proportion, "qa": _qa, "adaptation_eval": _adaptation_eval}


def _done(stage: Stage, measure: Measure) -> bool:
    if measure.reader == "adaptation_eval":
        return output_complete(stage)
    return stage.output_path.is_file()


def collect(recipe: Recipe) -> tuple[list[Cell], list[tuple[str, str, str]]]:
    """Every cell whose stage has finished, and the cells still waiting for a stage (row, column, stage)."""
    cells, waiting = [], []
    for stage in recipe.stages:
        for measure in stage.measures:
            if _done(stage, measure):
                cells.append(READERS[measure.reader](stage, measure))
            else:
                waiting.append((measure.row, measure.column, stage.name))
    return cells, waiting


def read_reference(path: Optional[Path]) -> dict[str, str]:
    """A CSV with columns `row` and `figure` (free text, e.g. "0.61 (paper, Table 2)")."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as err:
        raise LangAdaptError(f"--reference {path}: cannot read ({err.strerror}); pass a CSV file") from err
    if rows and not {"row", "figure"} <= set(rows[0]):
        raise LangAdaptError(f"--reference {path}: needs the columns row,figure; found {','.join(rows[0])}")
    return {row["row"]: row["figure"] for row in rows}


@dataclass
class Table:
    recipe: Recipe
    cells: list[Cell]
    waiting: list[tuple[str, str, str]]
    reference: dict[str, str]

    @property
    def rows(self) -> list[str]:
        order = [m.row for s in self.recipe.stages for m in s.measures] + [m.row for m in self.recipe.missing]
        return list(dict.fromkeys(order))

    def cell(self, row: str, column: str) -> Optional[Cell]:
        return next((c for c in self.cells if c.row == row and c.column == column), None)

    def text(self, row: str, column: str) -> str:
        missing = next((m.reason for m in self.recipe.missing if m.row == row), None)
        if missing:
            return missing
        cell = self.cell(row, column)
        if cell is not None:
            error = f" ± {cell.stderr:.3g}" if cell.stderr is not None else ""
            return f"{cell.value:.4g}{error} (n={cell.n})"
        waiting = next((stage for r, c, stage in self.waiting if r == row and c == column), None)
        return f"not run yet ({waiting})" if waiting else ""

    def markdown(self) -> str:
        columns = [*self.recipe.columns, REFERENCE]
        lines = [f"# {self.recipe.title}", "", self.recipe.description, "",
                 "Each cell: the figure a stage wrote ± its standard error (n = examples it averages over); "
                 "`reference` is the figure supplied with --reference. Rows where a task's data lacks the "
                 "language say so.", "",
                 "| measure | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for row in self.rows:
            texts = [self.text(row, c) for c in self.recipe.columns] + [self.reference.get(row, "")]
            lines.append(f"| {row} | " + " | ".join(texts) + " |")
        lines += ["", "![results](results.png)", "", "Settings: " + ", ".join(
            f"{k}={v}" for k, v in self.recipe.variables.items()), ""]
        return "\n".join(lines)

    def write_csv(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", "column", "value", "stderr", "n", "source"])
            for cell in self.cells:
                writer.writerow([cell.row, cell.column, repr(cell.value),
                                 "" if cell.stderr is None else repr(cell.stderr), cell.n, cell.source])
            for row in self.rows:
                if row in self.reference:
                    writer.writerow([row, REFERENCE, self.reference[row], "", "", "--reference"])
            for missing in self.recipe.missing:
                writer.writerow([missing.row, "", "", "", "", missing.reason])

    def plot(self, path: Path) -> None:
        """One panel per row with a filled cell: a bar per column, 2-standard-error whiskers."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [row for row in self.rows if any(c.row == row for c in self.cells)]
        width = min(max(len(rows), 1), 3)
        height = max(math.ceil(len(rows) / width), 1)
        fig, axes = plt.subplots(height, width, figsize=(3.6 * width, 3.0 * height), squeeze=False)
        for axis in axes.flat[len(rows):]:
            axis.set_visible(False)
        for axis, row in zip(axes.flat, rows):
            cells = [c for c in (self.cell(row, column) for column in self.recipe.columns) if c is not None]
            values = [c.value for c in cells]
            errors = [2 * (c.stderr or 0.0) for c in cells]
            bars = axis.bar([c.column for c in cells], values, yerr=errors, capsize=3)
            axis.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=7)
            axis.set_title(textwrap.fill(f"{row} (n={cells[0].n})", 40), fontsize=8)
            axis.tick_params(labelsize=7, axis="x", labelrotation=20)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def write_table(recipe: Recipe, root: Path, reference: Optional[Path] = None) -> Table:
    cells, waiting = collect(recipe)
    table = Table(recipe, cells, waiting, read_reference(reference))
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.md").write_text(table.markdown(), encoding="utf-8")
    table.write_csv(root / "results.csv")
    table.plot(root / "results.png")
    return table
