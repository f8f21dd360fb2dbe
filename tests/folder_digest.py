"""What a folder holds, as a value to compare before and after a command that must not touch it."""
import hashlib
from pathlib import Path


def folder_digest(folder: Path) -> dict:
    """Each entry's path relative to `folder`: the sha256 of a file, "dir" for a folder."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(Path(folder).rglob("*"))}
