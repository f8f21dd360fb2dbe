"""The papers' experiments as recipes: stages (a script and its flags), run locally or as a SLURM chain,
skipped when complete, and ending in the paper-shaped results table (`run_recipe.py`)."""
from .stage import Measure, Missing, Recipe, Stage, load_recipe

__all__ = ["Measure", "Missing", "Recipe", "Stage", "load_recipe"]
