"""Load a dataset from a hub id or a local path with `datasets.load_dataset` semantics, and clear errors.

Every script accepts either form (DESIGN.md, Inputs). Local paths never touch the network and follow the
rules `datasets.load_dataset(folder, name)` applies to a hub repo: splits from file names (`train.txt`,
`validation.jsonl`, `data/test-00000.parquet`), configs from the README's `configs:` or, for a clone of a
repo laid out by config (`data/20230601.hi/`, `eng-swh/*.parquet`), from subfolders when a config name
picks one (without one, every file is read as datasets does). `save_to_disk` folders and single files
load too. A split string may hold slices (`train[:10]`, `train[:50%]`, `train+validation`) wherever the
data came from, and a config name that cannot be applied is an error.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Optional

from .errors import LangAdaptError
from .local_paths import FILE_BUILDERS, looks_local

logger = logging.getLogger(__name__)

# Folder names datasets reads as splits (datasets.data_files keywords), never as configs.
SPLIT_WORDS = {"train", "training", "validation", "valid", "dev", "val", "test", "testing", "eval",
               "evaluation"}


def builder_for_file(path: str | os.PathLike) -> str:
    name = str(path)
    for compressed in (".gz", ".bz2", ".xz", ".zst"):
        if name.endswith(compressed):
            name = name[: -len(compressed)]
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_BUILDERS:
        raise LangAdaptError(
            f"{path}: unsupported file type {suffix!r}; expected one of {', '.join(sorted(FILE_BUILDERS))}")
    return FILE_BUILDERS[suffix]


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _is_data_file(path: Path) -> bool:
    try:
        builder_for_file(path)
    except LangAdaptError:
        return False
    return True


def holds_data(folder: Path) -> bool:
    return is_saved_dataset(folder) or any(p.is_file() and _is_data_file(p) for p in folder.rglob("*"))


def readme_configs(folder: Path) -> list[str]:
    """Config names declared in the README's YAML header (`configs: - config_name: ...`)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return []
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return []
    import yaml

    try:
        header = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return []
    configs = header.get("configs") if isinstance(header, dict) else None
    return [c["config_name"] for c in configs or [] if isinstance(c, dict) and "config_name" in c]


def config_folders(folder: Path) -> dict[str, Path]:
    """Subfolders that are configs (a hub repo laid out by config), at the top or under `data/`.

    A level counts when it holds no data file itself and its data-holding subfolders are not split names; a
    `data/` folder holding data files is the data (side folders such as `metadata/` are no configs).
    """
    for level in (folder / "data", folder):
        if level.is_dir() and any(p.is_file() and _is_data_file(p) for p in level.iterdir()):
            if level == folder / "data":
                return {}
            continue
        if not level.is_dir():
            continue
        subfolders = {p.name: p for p in sorted(level.iterdir())
                      if p.is_dir() and p != folder / "data" and holds_data(p)}
        if subfolders and not SPLIT_WORDS & {name.lower() for name in subfolders}:
            return subfolders
    return {}


class ConfigError(LangAdaptError):
    """The config asked for is not in the dataset: the config flag's fault, not the dataset flag's."""


class SplitError(LangAdaptError):
    """The split asked for is not in the dataset, or not a split string at all: the split flag's fault."""


class ScriptDatasetError(LangAdaptError):
    """The dataset needs its loading script, which datasets >= 4 no longer runs."""


SCRIPT_REFUSAL = "scripts are no longer supported"  # what datasets >= 4 says on a script dataset


def script_dataset_error(name: str, detail: str) -> ScriptDatasetError:
    import datasets

    return ScriptDatasetError(f"{name} is a script dataset ({detail}), which datasets {datasets.__version__} "
                              f"cannot run; use a local copy of its data files instead (parquet/json/jsonl, one "
                              f"folder per config, e.g. <folder>/eng_Latn-swh_Latn/*.parquet) and pass that folder")


def _unreadable(err: Exception, path: Path, what: str) -> LangAdaptError:
    cause = err.__cause__ or err
    return LangAdaptError(f"{path}: cannot read it as {what} (empty or malformed file: {type(cause).__name__} "
                          f"{cause})")


def _load_file(path: Path, config_name: Optional[str], streaming: bool, **load_kwargs):
    """One file as a "train" split."""
    import datasets

    if config_name:
        raise ConfigError(f"{path} is a single file: it has no config {config_name!r}; drop the config flag")
    builder = builder_for_file(path)
    try:
        return datasets.load_dataset(builder, data_files={"train": [str(path)]}, streaming=streaming, **load_kwargs)
    except (StopIteration, datasets.exceptions.DatasetGenerationError) as err:
        raise _unreadable(err, path, f"{builder} data") from err
    except ValueError as err:  # datasets' words for a file that parsed to no rows (an empty JSON list)
        if "corresponds to no data" not in str(err):
            raise
        raise LangAdaptError(f"{path}: the file holds no rows; pass a file with data") from err


def _load_saved(path: Path, config_name: Optional[str], streaming: bool):
    import datasets

    if config_name:
        raise ConfigError(f"{path} is a save_to_disk folder: it has no config {config_name!r}; drop the config flag")
    saved = datasets.load_from_disk(str(path))
    if not streaming:
        return saved
    if isinstance(saved, datasets.Dataset):
        return saved.to_iterable_dataset()
    return datasets.IterableDatasetDict({name: split.to_iterable_dataset() for name, split in saved.items()})


def _load_folder(path: Path, config_name: Optional[str], streaming: bool, **load_kwargs):
    """A folder of data files, by `datasets`' folder rules; configs from README `configs:` or subfolders."""
    import datasets

    if (path / f"{path.name}.py").is_file():  # what datasets takes for a loading script
        raise script_dataset_error(str(path), f"found {path.name}.py")
    declared, subfolders = readme_configs(path), config_folders(path)
    if not declared and subfolders and config_name:
        if config_name not in subfolders:
            raise ConfigError(f"{path} has no config {config_name!r}; configs there: {', '.join(subfolders)}")
        return _load_local(subfolders[config_name], None, streaming, **load_kwargs)
    merged = not declared and len(subfolders) > 1  # datasets reads them all as one config
    if merged:
        logger.warning("%s: reading its subfolders %s together, as datasets does; pass a config name to read one",
                       path, ", ".join(subfolders))
    if config_name and config_name not in declared:
        known = f"configs there: {', '.join(declared)}" if declared else \
            "it has no configs (no README `configs:`, no config subfolders)"
        raise ConfigError(f"{path} has no config {config_name!r}; {known}")
    if not holds_data(path):
        raise LangAdaptError(f"{path} holds no saved dataset and no data files "
                             f"({', '.join(sorted(FILE_BUILDERS))})")
    try:
        return datasets.load_dataset(str(path), config_name, streaming=streaming, **load_kwargs)
    except (StopIteration, datasets.exceptions.DatasetGenerationError) as err:
        if merged:
            raise LangAdaptError(f"{path}: its subfolders ({', '.join(subfolders)}) do not read as one dataset; "
                                 f"pass a config name (--dataset_config_name / "
                                 f"--train_dataset.huggingface_dataset.name) to read one") from err
        raise _unreadable(err, path, "a dataset folder") from err
    except (ValueError, RuntimeError) as err:
        raise LangAdaptError(f"{path}: {err}") from err


def _load_local(path: Path, config_name: Optional[str], streaming: bool, **load_kwargs):
    """A DatasetDict (or Dataset, for a saved one) from a local file or folder."""
    if path.is_file():
        return _load_file(path, config_name, streaming, **load_kwargs)
    if is_saved_dataset(path):
        return _load_saved(path, config_name, streaming)
    return _load_folder(path, config_name, streaming, **load_kwargs)


def _load_hub(name: str, config_name: Optional[str], streaming: bool, **load_kwargs):
    import datasets

    try:
        return datasets.load_dataset(name, config_name, streaming=streaming, **load_kwargs)
    except RuntimeError as err:
        if SCRIPT_REFUSAL in str(err):
            raise script_dataset_error(name, str(err)) from err
        raise LangAdaptError(f"cannot load dataset {name!r}: {err}") from err
    except (FileNotFoundError, ConnectionError, ValueError, OSError) as err:
        offline = " (the hub is unreachable offline: pass a local path instead)" \
            if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1" else ""
        raise LangAdaptError(f"cannot load dataset {name!r}"
                             f"{f' config {config_name!r}' if config_name else ''}{offline}: {err}") from err


def select_split(data, split: Optional[str], source: str):
    """`split` of `data` as `datasets` reads split strings: a name, slices (`train[:10]`, `train[10%:]`)
    and sums (`train+validation`). A lone Dataset (a saved one) is the split it was saved as, else "train",
    the name datasets gives a data file without a split in its name."""
    import datasets

    if split is None:
        return data
    if not isinstance(data, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        data = {str(data.split or "train"): data}
    if split in data:
        return data[split]
    instruction = parse_split(split)
    names = [part.split("[")[0].strip() for part in split.split("+")]
    missing = [name for name in names if name not in data]
    if missing:
        raise SplitError(f"{source} has no split {missing[0]!r}; available: {', '.join(data.keys())}")
    if any(isinstance(data[name], datasets.IterableDataset) for name in names):
        return _stream_slices(data, instruction, split, source)
    sizes = {name: len(data[name]) for name in names}
    parts = [data[a.splitname].select(range(a.from_, a.to)) for a in instruction.to_absolute(sizes)]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def parse_split(split: str, flag: Optional[str] = None):
    """`split` as a `datasets.ReadInstruction` (names, slices, percentages, sums), or an error that needs
    no data: run it on the flag's value before anything loads."""
    from datasets import ReadInstruction

    try:
        return ReadInstruction.from_spec(split)
    except (ValueError, AssertionError) as err:
        raise SplitError(f"{flag + ' ' if flag else ''}{split}: not a split name or slice ({err}); use e.g. train, "
                         f"train[:1000], train[10%:] or train+validation") from err


def _stream_slices(data, instruction, split: str, source: str):
    """Absolute slices of streamed splits with skip/take; percentages need a length a stream lacks."""
    import datasets

    if "%" in split:
        raise SplitError(f"{source}: split {split!r}: percentage slices need the dataset's length, which a "
                             f"stream does not know; use absolute slices (train[:1000]) or drop --streaming")
    parts = []
    for rel in instruction._relative_instructions:  # noqa: SLF001 (datasets keeps the parsed parts here)
        stream = data[rel.splitname]
        if rel.from_ is not None and rel.from_ < 0 or rel.to is not None and rel.to < 0:
            raise SplitError(f"{source}: split {split!r}: negative slices need a length a stream lacks")
        start = rel.from_ or 0
        stream = stream.skip(start) if start else stream
        parts.append(stream.take(rel.to - start) if rel.to is not None else stream)
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def load_any_dataset(name_or_path: str, config_name: Optional[str] = None, split: Optional[str] = None,
                     streaming: bool = False, flags: tuple[Optional[str], ...] = (), **load_kwargs):
    """A `Dataset` for `split` (a `DatasetDict` of every split when it is None), local path or hub id.

    `flags`: the flags that gave the dataset, its config and its split, which an error then names."""
    try:
        if looks_local(name_or_path):
            path = Path(name_or_path).expanduser()
            if not path.exists():
                raise LangAdaptError(f"{name_or_path}: no such file or folder")
            data = _load_local(path, config_name or None, streaming, **load_kwargs)
        else:
            data = _load_hub(name_or_path, config_name or None, streaming, **load_kwargs)
        return select_split(data, split, name_or_path)
    except LangAdaptError as err:
        dataset_flag, config_flag, split_flag = (*flags, None, None, None)[:3]
        flag, value = {ConfigError: (config_flag, config_name), SplitError: (split_flag, split)}.get(
            type(err), (dataset_flag, name_or_path))
        message = str(err)
        if not flag or message.startswith("--"):
            raise
        if message.startswith(f"{value}:"):
            message = message[len(value) + 1:].lstrip()
        raise type(err)(f"{flag} {value}: {message}") from err


def require_columns(dataset, columns: Iterable[str], source: str) -> None:
    """Fail with the columns that do exist when an expected one is missing."""
    have = list(dataset.column_names or [])
    missing = [c for c in columns if c not in have]
    if missing:
        raise LangAdaptError(f"{source}: missing column(s) {', '.join(missing)}; columns found: "
                             f"{', '.join(have) or '(none)'}")
