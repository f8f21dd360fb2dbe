"""Pushing the built dataset to the hub, with every precondition checked before the build starts."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)
DEFAULT_REPO_NAME = "backpack-parallel"


@dataclass(frozen=True)
class UploadTarget:
    repo: str
    config_name: str
    token: str


def check_upload_possible(hub_repo: Optional[str], config_name: str) -> UploadTarget:
    """Fail now (not after hours of building) when the upload could not happen."""
    from huggingface_hub import get_token

    if not config_name.strip():
        raise LangAdaptError("--upload_data/--upload_from_disk need --config_name (e.g. eng-swh-100k)")
    token = get_token()
    if not token:
        raise LangAdaptError("--upload_data/--upload_from_disk need a hub token: set HF_TOKEN or run "
                             "`huggingface-cli login`")
    repo = (hub_repo or "").strip() or f"{_user(token)}/{DEFAULT_REPO_NAME}"
    return UploadTarget(repo=repo, config_name=config_name.strip(), token=token)


def _user(token: str) -> str:
    from huggingface_hub import whoami

    try:
        return whoami(token=token)["name"]
    except Exception as err:  # offline, bad token: the hub client raises many types
        raise LangAdaptError(f"--hub_repo not given and the hub cannot tell whose token this is "
                             f"({type(err).__name__}); pass --hub_repo <user>/<name>") from err


def push_dataset(saved: Path, target: UploadTarget, max_shard_size: str) -> None:
    """Push a saved DatasetDict to `target.repo` as config `target.config_name`."""
    from datasets import load_from_disk

    if not (saved / "dataset_dict.json").is_file():
        raise LangAdaptError(f"{saved} is not a saved DatasetDict (no dataset_dict.json)")
    dataset = load_from_disk(str(saved))
    logger.info("pushing %s to %s (config %s)", saved, target.repo, target.config_name)
    try:
        dataset.push_to_hub(target.repo, config_name=target.config_name, token=target.token,
                            max_shard_size=max_shard_size)
    except Exception as err:  # HTTP, connection and auth errors all end the same way
        raise LangAdaptError(f"pushing to {target.repo} failed ({type(err).__name__}: {str(err)[:300]}); "
                             f"the dataset is saved in {saved}: retry with --upload_from_disk {saved}") from err
    logger.info("pushed: load_dataset(%r, %r)", target.repo, target.config_name)
