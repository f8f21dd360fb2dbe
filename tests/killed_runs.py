"""What a job killed right after a checkpoint leaves behind, made from a finished run's folder."""
import json
import shutil
from pathlib import Path


def as_killed_after(finished: Path, copy: Path, checkpoint_step: int, final_files=()) -> Path:
    """Copy `finished` to `copy` without the checkpoints after `checkpoint_step`, the final files and the
    completion record; its metric log keeps the records written after the checkpoint, as a kill leaves it."""
    shutil.copytree(finished, copy)
    for checkpoint in (copy / "checkpoints").iterdir():
        if int(checkpoint.name.split("-")[1]) > checkpoint_step:
            shutil.rmtree(checkpoint)
    for name in final_files:
        (copy / name).unlink()
    identity = json.loads((copy / "run.json").read_text())
    identity.pop("completed")
    (copy / "run.json").write_text(json.dumps(identity))
    log = copy / "metrics.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines() if '"final"' not in line))
    return copy
