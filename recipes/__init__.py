"""The papers' experiments, one file each, run by run_recipe.py (see langadapt/recipes/)."""
