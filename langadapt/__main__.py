"""`python -m langadapt lm_eval_tasks` (or `langadapt lm_eval_tasks`): where the lm-eval task package is, for
`lm_eval --include_path "$(langadapt lm_eval_tasks)" --tasks ogx_xquad_hi ...`."""
from __future__ import annotations

import sys
from pathlib import Path

from .cli import make_parser, run_cli

TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"


def main(argv=None) -> int:
    p = make_parser(__doc__)
    p.add_argument("command", choices=("lm_eval_tasks",), help="lm_eval_tasks: print the task package's folder")
    p.parse_args(argv)
    print(TASKS_DIR)
    return 0


def entry() -> None:
    run_cli(main, sys.argv[1:])


if __name__ == "__main__":
    entry()
