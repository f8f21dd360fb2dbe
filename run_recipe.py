"""Run one of the papers' experiments (a recipe in recipes/) from data to its results table.

    python run_recipe.py recipes/sense_adaptation.py --set langs=swh,tur --out $SCRATCH/sense --dry_run
    python run_recipe.py recipes/commit.py --set langs=hi --out $SCRATCH/commit --slurm
    python run_recipe.py --out $SCRATCH/commit --only table     # rebuild the table of a started recipe

Locally the stages run in order; with --slurm each incomplete stage becomes a job waiting for the jobs it
needs. A stage whose output is complete (written by the same command) is skipped; any other resumes.
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
from pathlib import Path

from langadapt.cli import make_parser, run_cli, setup_logging
from langadapt.errors import LangAdaptError

RECIPE_FILE = "recipe.json"


def parse_args(argv=None):
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("recipe", nargs="?", help="recipe file or name (recipes/*.py); default: the one started in --out")
    p.add_argument("--out", required=True, help="folder every stage writes under (run folders, results, logs)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="change a recipe variable (lists comma-separated); the recipe file lists them")
    p.add_argument("--dry_run", action=argparse.BooleanOptionalAction, default=False,
                   help="print each stage's command (and whether it is complete)")
    p.add_argument("--slurm", action=argparse.BooleanOptionalAction, default=False,
                   help="submit the stages as one sbatch --dependency=afterok chain")
    p.add_argument("--only", nargs="+", default=[], metavar="STAGE", help="run or submit only these stages")
    p.add_argument("--reference", default=None,
                   help="CSV with columns row,figure: a figure per table row to compare against (e.g. the paper's)")
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def settings_of(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise LangAdaptError(f"--set {pair}: expected NAME=VALUE, e.g. langs=swh")
        settings[name] = value
    return settings


def recipe_and_settings(args, root: Path) -> tuple[str, dict]:
    """The recipe named now, or the one recorded in --out when none is (the SLURM table and publish jobs)."""
    saved = root / RECIPE_FILE
    if args.recipe:
        return args.recipe, settings_of(args.set)
    if not saved.is_file():
        raise LangAdaptError(f"--out {root}: no {RECIPE_FILE} (no recipe started there); name the recipe")
    record = json.loads(saved.read_text(encoding="utf-8"))
    return record["recipe"], {**record["variables"], **settings_of(args.set)}


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)
    from langadapt.recipes import load_recipe, state
    from langadapt.recipes.stage import recipe_path
    from langadapt.recipes.local import run_locally
    from langadapt.recipes.publish import check_token, publish
    from langadapt.recipes.slurm import submit_chain
    from langadapt.recipes.table import write_table
    from langadapt.training import write_json_atomic

    root = Path(args.out).expanduser().resolve()
    name, settings = recipe_and_settings(args, root)
    recipe = load_recipe(name, root, settings)
    for stage in args.only:
        recipe.stage(stage)
    if args.dry_run:
        for stage, complete in state.selected(recipe, root, args.only):
            print(f"# {stage.name} ({'complete' if complete else 'to run'})\n{stage.shell()}\n")
        return 0
    root.mkdir(parents=True, exist_ok=True)
    saved = json.loads((root / RECIPE_FILE).read_text()) if (root / RECIPE_FILE).is_file() else {}
    reference = str(Path(args.reference).resolve()) if args.reference else saved.get("reference")
    if args.recipe:
        write_json_atomic(root / RECIPE_FILE, {"recipe": str(recipe_path(name)), "variables": recipe.variables,
                                               "reference": reference})
    if any(s.kind == "publish" and not complete for s, complete in state.selected(recipe, root, args.only)):
        check_token()  # before days of training, as the corpus builder's --upload_data
    if args.slurm:
        print(json.dumps(submit_chain(recipe, root, args.only), indent=1))
        return 0
    in_process = {"table": lambda stage: print(write_table(recipe, root, reference).markdown()),
                  "publish": lambda stage: publish(recipe, stage, root)}
    done = run_locally(recipe, root, args.only, in_process)
    logging.getLogger("run_recipe").info("stages: %s", shlex.join(f"{k}={v}" for k, v in done.items()))
    return 0


if __name__ == "__main__":
    run_cli(main)
