"""The optional last stage: a model card (recipe, data, settings, results table) and the checkpoint pushed
to the hub, as the corpus builder's --upload_data does with its dataset: the token is checked before the
recipe starts (not after days of training), a failed push names the saved folder to retry from, and the
stage is complete once `published/<stage>.json` records where the model went."""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import LangAdaptError
from ..training import write_json_atomic
from .stage import Recipe, Stage

logger = logging.getLogger(__name__)
# Training state a checkpoint folder holds beside the model: not part of the published model.
IGNORED = ["checkpoints/*", "checkpoint-*/*", "*.tmp", "training_state.pt", "process-*.pt"]


def hub_api(token: str):
    """The hub client (tests replace this function; nothing else here touches the network)."""
    from huggingface_hub import HfApi

    return HfApi(token=token)


def check_token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise LangAdaptError("--set publish_repo: publishing needs a hub token: set HF_TOKEN or run "
                             "`huggingface-cli login` (or leave publish_repo empty)")
    return token


def lineage(recipe: Recipe, stage: Stage) -> list[Stage]:
    """The stages this one waits for, transitively, in recipe order: how its model was made."""
    needed, queue = set(), list(stage.after)
    while queue:
        name = queue.pop()
        if name not in needed:
            needed.add(name)
            queue += recipe.stage(name).after
    return [s for s in recipe.stages if s.name in needed and s.kind in ("train", "corpus")]


def model_card(recipe: Recipe, stage: Stage, results: str) -> str:
    made = lineage(recipe, stage)
    data = [str(s.flags[k]) for s in made for k in ("--dataset_name", "--train_dataset.huggingface_dataset.path",
                                                   "--hf_out") if k in s.flags]
    front = ["---", "library_name: transformers", "tags:", "- langadapt", f"- {recipe.name}"]
    front += ["datasets:"] + [f"- {d}" for d in dict.fromkeys(data)] if data else []
    lines = [*front, "---", "", f"# {stage.params['--hub_repo']}", "",
             f"Made with langadapt's `{recipe.name}` recipe: {recipe.title}.", "", recipe.description, "",
             "## Settings", "", "Recipe variables: " + ", ".join(f"`{k}={v}`" for k, v in recipe.variables.items()),
             "", "## How it was made", "", "Data: " + (", ".join(f"`{d}`" for d in dict.fromkeys(data)) or "-"), "",
             "```bash", *[s.shell() for s in made], "```", "", "## Results", "", results]
    return "\n".join(lines) + "\n"


def publish(recipe: Recipe, stage: Stage, root: Path) -> None:
    model, repo = Path(str(stage.params["--model"])), str(stage.params["--hub_repo"])
    if not (model / "config.json").is_file():
        raise LangAdaptError(f"--model {model}: no config.json; the stage that trains it has not finished")
    results = (root / "results.md").read_text(encoding="utf-8") if (root / "results.md").is_file() else \
        "(no results table yet)"
    card = model_card(recipe, stage, results)
    api = hub_api(check_token())
    logger.info("pushing %s to %s", model, repo)
    try:
        api.create_repo(repo_id=repo, exist_ok=True, private=bool(stage.params.get("--private")))
        api.upload_folder(repo_id=repo, folder_path=str(model), ignore_patterns=IGNORED,
                          commit_message=f"langadapt {recipe.name}: {stage.name}")
        commit = api.upload_file(path_or_fileobj=card.encode("utf-8"), path_in_repo="README.md", repo_id=repo,
                                 commit_message="model card")
    except Exception as err:  # HTTP, connection and auth errors all end the same way
        raise LangAdaptError(f"pushing {model} to {repo} failed ({type(err).__name__}: {str(err)[:300]}); the "
                             f"model is saved in {model}: rerun the recipe to retry") from err
    stage.output_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(stage.output_path, {"repo": repo, "model": str(model), "commit": str(commit)})
    logger.info("published: %s", repo)
