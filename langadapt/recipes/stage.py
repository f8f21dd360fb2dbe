"""What a recipe is: an ordered list of stages, each one top-level script with its flags.

A stage's flags are an ordered dict (`--flag: value`; True = a bare flag, a list = several values); a
recipe of another size changes them per stage family (`Recipe.with_flags`), where None removes a flag.
Stages name the ones they wait for; the order of the list is a valid local order.
"""
from __future__ import annotations

import importlib.util
import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import LangAdaptError

ROOT = Path(__file__).resolve().parent.parent.parent
KINDS = ("train", "corpus", "eval", "analysis", "table", "publish")


@dataclass(frozen=True)
class Measure:
    """One table cell a stage's output fills: `row` (e.g. "XCOPA acc (swh)") x `column` (model or variant).
    `reader` names how its JSON is read (langadapt/recipes/table.py, READERS)."""
    row: str
    column: str
    reader: str
    key: str = ""


@dataclass(frozen=True)
class Missing:
    """A row the recipe cannot fill, with the reason the table shows (a language a task's data lacks)."""
    row: str
    reason: str


@dataclass
class Stage:
    name: str  # unique in the recipe, e.g. "adapt-swh"
    family: str  # what `with_flags` addresses, e.g. "adapt" for every language's adaptation stage
    script: str  # top-level script, relative to the repository root
    flags: dict[str, Any]
    output: str  # the flag naming the run folder or result file
    kind: str = "train"
    after: tuple[str, ...] = ()
    wait: str = "afterok"  # SLURM dependency type; the table waits `afterany`, to show what did finish
    resources: dict[str, Any] = field(default_factory=dict)  # sbatch options, e.g. {"gpus-per-node": 8}
    launch: str = "single"  # slurm/launch.sh mode: single, auto (the allocation decides), node, multinode
    measures: tuple[Measure, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)  # what an in-process stage (table, publish) acts on

    def argv(self) -> list[str]:
        """The script's arguments, in the order the recipe wrote them."""
        args: list[str] = []
        for flag, value in self.flags.items():
            if value is None or value is False:
                continue
            args.append(flag)
            if isinstance(value, (list, tuple)):
                args += [str(v) for v in value]
            elif value is not True:
                args.append(str(value))
        return args

    def command(self, python: str = "python") -> list[str]:
        return [python, self.script, *self.argv()]

    @property
    def output_path(self) -> Path:
        return Path(str(self.flags.get(self.output, self.params.get(self.output))))

    def shell(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return (env + " " if env else "") + shlex.join(self.command())


@dataclass
class Recipe:
    name: str
    title: str
    description: str  # the method in a few sentences, for the table and the model card
    stages: list[Stage]
    variables: dict[str, Any]
    columns: tuple[str, ...]  # the table's model / variant columns, in order
    missing: tuple[Missing, ...] = ()

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise LangAdaptError(f"--only {name}: no such stage; stages: {', '.join(s.name for s in self.stages)}")

    def with_flags(self, changes: Mapping[str, Mapping[str, Any]]) -> "Recipe":
        """The same recipe with each family's flags changed (None removes one); unknown families are errors,
        so that a typo in a smaller recipe cannot silently leave a paper-size setting in place."""
        families = {stage.family for stage in self.stages}
        unknown = set(changes) - families
        if unknown:
            raise LangAdaptError(f"recipe {self.name}: no stage family {', '.join(sorted(unknown))}; families: "
                                 f"{', '.join(sorted(families))}")
        stages = []
        for stage in self.stages:
            flags = dict(stage.flags)
            for flag, value in changes.get(stage.family, {}).items():
                if value is None:
                    flags.pop(flag, None)
                else:
                    flags[flag] = value
            stages.append(replace(stage, flags=flags))
        return replace(self, stages=stages)

    def check(self) -> None:
        names = [stage.name for stage in self.stages]
        seen: set[str] = set()
        for stage in self.stages:
            if stage.name in seen:
                raise LangAdaptError(f"recipe {self.name}: stage {stage.name} appears twice")
            for before in stage.after:
                if before not in seen:
                    raise LangAdaptError(f"recipe {self.name}: stage {stage.name} waits for {before}, which "
                                         f"{'comes later' if before in names else 'does not exist'}")
            if stage.kind not in KINDS:
                raise LangAdaptError(f"recipe {self.name}: stage {stage.name} has unknown kind {stage.kind}")
            seen.add(stage.name)


# ------------------------------------------------------------------------------------------ loading
def recipe_path(name: str) -> Path:
    """`recipes/commit.py`, `commit.py` or `commit`: the recipe file."""
    path = Path(name)
    for candidate in (path, ROOT / path, ROOT / "recipes" / path, ROOT / "recipes" / f"{name}.py"):
        if candidate.is_file() and candidate.suffix == ".py":
            return candidate.resolve()
    known = sorted(p.stem for p in (ROOT / "recipes").glob("*.py") if not p.stem.startswith("_"))
    raise LangAdaptError(f"recipe {name}: no such recipe file; recipes: {', '.join(known)}")


def _module(path: Path):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # recipes import each other as `recipes.<name>`
    spec = importlib.util.spec_from_file_location(f"recipes.{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_value(name: str, text: str, default: Any) -> Any:
    """`--set name=text`, typed as the recipe's default is: lists split on commas, booleans true/false."""
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise LangAdaptError(f"--set {name}={text}: expected true or false")
        return text.lower() == "true"
    if isinstance(default, (list, tuple)):
        return [item for item in text.split(",") if item]
    for kind in (int, float):
        if isinstance(default, kind):
            try:
                return kind(text)
            except ValueError as err:
                raise LangAdaptError(f"--set {name}={text}: expected {kind.__name__}") from err
    return text


def load_recipe(name: str, out: Path, settings: Optional[Mapping[str, str]] = None) -> Recipe:
    """Build the recipe in file `name` with its variables changed by `settings` (strings, from --set)."""
    path = recipe_path(name)
    module = _module(path)
    variables = dict(module.VARIABLES)
    for key, text in (settings or {}).items():
        if key not in variables:
            raise LangAdaptError(f"--set {key}: recipe {path.stem} has no such variable; variables: "
                                 f"{', '.join(variables)}")
        variables[key] = parse_value(key, text, variables[key]) if isinstance(text, str) else text
    recipe = module.build(variables, Path(out).resolve())
    recipe.check()
    return recipe
