#!/usr/bin/env python
"""COMMIT: code-mixed instruction tuning (--mode alpaca) or code-mixed alignment (--mode text) of a
causal LM, with the COMMIT README's EasyLM flags accepted as written. See `--help`."""
from __future__ import annotations

import json
import logging
import os
from typing import Optional, Sequence

from langadapt.cli import run_cli, setup_logging
from langadapt.commit.args import parse_flags, resolve_args

logger = logging.getLogger("commit_train")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_flags(argv)
    setup_logging(args.log_level)
    args = resolve_args(args)
    from langadapt.commit.loop import train  # torch: only once the flags have parsed

    results = train(args)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
