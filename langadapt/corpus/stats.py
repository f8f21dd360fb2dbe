"""Pair counts per corpus after every stage: a log table and the stats.json written with the dataset."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .filters import FILTER_STAGES

STAGES = (*FILTER_STAGES, "dedup", "labse", "final")


@dataclass
class CorpusStats:
    name: str
    kind: str  # "opus" or "hf"
    source: str  # corpus name or dataset id/path
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: Optional[str] = None  # why the corpus was skipped

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "counts": self.counts,
                "unavailable": self.unavailable}


def totals(corpora: list[CorpusStats]) -> dict[str, int]:
    return {stage: sum(c.counts.get(stage, 0) for c in corpora) for stage in STAGES
            if any(stage in c.counts for c in corpora)}


def format_table(corpora: list[CorpusStats]) -> str:
    """Fixed-width table: one row per corpus, one column per stage, a total row; '-' = stage not run."""
    header = ["corpus", *STAGES]
    rows = [[c.name, *(str(c.counts[s]) if s in c.counts else "-" for s in STAGES)] for c in corpora
            if c.unavailable is None]
    rows.append(["TOTAL", *(str(v) if (v := totals(corpora).get(s)) is not None else "-" for s in STAGES)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines += [f"{c.name}: unavailable ({c.unavailable})" for c in corpora if c.unavailable is not None]
    return "\n".join(lines)
