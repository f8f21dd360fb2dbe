"""The COMMIT harness fork's `main.py` command line, as the COMMIT README pastes it, run by our engine.

`--model hf-causal-experimental --model_args pretrained=DIR --tasks ogx_xquad_hi --output_path R.json`
evaluates the fork's task names and writes its results JSON (`results`, `versions`, `config`). Options of
the fork that would change what is computed and that we do not implement are refused by name.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
from typing import Optional

from ..cli import make_parser
from ..errors import LangAdaptError
from .config import EvalConfig
from .tasks.qa import FORK_MODELS

# The fork's registered names (opengptx/xquad.py and mlqa.py construct_tasks, with the "ogx_" prefix):
# name -> (our task, --lang, split). XQuAD is read from its validation split, MLQA from test ("val": validation).
_XQUAD = ("ar", "de", "zh", "vi", "en", "es", "hi", "el", "th", "tr", "ru", "ro", "enth", "enel", "enhi")
_MLQA = {"en": "en", "ar": "ar", "de": "de", "zh": "zh", "vi": "vi", "es": "es", "hi": "hi", "enhi": "enhi",
         "hival": "hi", "enhival": "enhi"}
FORK_TASKS = {**{f"ogx_xquad_{lang}": ("xquad", lang, "validation") for lang in _XQUAD},
              **{f"ogx_mlqa_{name}": ("mlqa", lang, "validation" if name.endswith("val") else "test")
                 for name, lang in _MLQA.items()}}
MODEL_ARGS = ("pretrained", "dtype", "trust_remote_code")
DTYPES = {"auto": None, "float32": None, "float16": "fp16", "bfloat16": "bf16"}
# main.py options that change the run and that we do not implement: refused rather than silently ignored
UNSUPPORTED = ("--provide_description", "--decontamination_ngrams_path", "--description_dict_path",
               "--check_integrity", "--write_detailed_eval_info", "--detailed_eval_info_path")
FORK_FLAGS = ("--model", "--model_args", "--tasks")


def is_fork_command(argv) -> bool:
    """Whether `argv` is the fork's command line (it names --model, --model_args or --tasks)."""
    return any(arg.split("=", 1)[0] in FORK_FLAGS for arg in argv)


def parse_fork_args(argv) -> argparse.Namespace:
    p = make_parser("The COMMIT harness fork's main.py options", exit_on_error=False)
    p.add_argument("--model", choices=FORK_MODELS, help="the fork's model class (its greedy_until)")
    p.add_argument("--model_args", default="", help=f"comma list of key=value: {', '.join(MODEL_ARGS)}")
    p.add_argument("--tasks", help="comma list of the fork's task names or fnmatch patterns (ogx_xquad_hi, ogx_mlqa_*)")
    p.add_argument("--num_fewshot", type=int, default=0, help="solved examples prepended to each prompt")
    p.add_argument("--batch_size", type=int, default=None, help="prompts generated together (the fork's default 1)")
    p.add_argument("--device", default=None, help="cuda, cuda:N or cpu")
    p.add_argument("--output_path", default=None, help="results JSON, in the fork's layout")
    p.add_argument("--limit", type=float, default=None, help="examples per task; below 1, a fraction of them")
    p.add_argument("--no_cache", action="store_true", help="accepted: run_eval keeps no request cache")
    p.add_argument("--no_tokenizer_check", action="store_true", help="accepted: no GPT-2 tokenizer check is made")
    p.add_argument("--bootstrap_iters", type=int, default=100000,
                   help="recorded only: the fork computes no standard error for XQuAD/MLQA")
    p.add_argument("--data_path", default=None, help="(ours) local data for a single task instead of the hub")
    p.add_argument("--log_level", default="INFO")
    try:
        args, unknown = p.parse_known_args(argv)
    except argparse.ArgumentError as err:
        raise LangAdaptError(f"{err}; see python run_eval.py --model hf-causal-experimental --help") from None
    for arg in unknown:
        flag = arg.split("=", 1)[0]
        if flag in UNSUPPORTED:
            raise LangAdaptError(f"{flag}: the harness fork's option is not implemented by run_eval.py; drop it")
        raise LangAdaptError(f"{arg}: not an option of the harness fork's main.py; its options are --model, "
                             f"--model_args, --tasks, --num_fewshot, --batch_size, --device, --output_path, --limit")
    if args.model is None:
        raise LangAdaptError(f"--model: required with the harness fork's options; one of {', '.join(FORK_MODELS)}")
    if not args.tasks:
        raise LangAdaptError("--tasks: required, e.g. --tasks ogx_xquad_hi,ogx_xquad_enhi")
    if args.limit is not None and args.limit <= 0:
        raise LangAdaptError(f"--limit {args.limit:g}: must be > 0 (below 1: a fraction of the examples)")
    return args


def parse_model_args(text: str) -> dict:
    """`pretrained=DIR,dtype=float16,trust_remote_code=True` -> its keys (pretrained required)."""
    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in MODEL_ARGS:
            raise LangAdaptError(f"--model_args {item}: expected key=value with key one of {', '.join(MODEL_ARGS)}")
        values[key] = value
    if "pretrained" not in values:
        raise LangAdaptError(f"--model_args {text!r}: needs pretrained=<model folder or hub id>")
    if values.get("dtype", "auto") not in DTYPES:
        raise LangAdaptError(f"--model_args dtype={values['dtype']}: expected one of {', '.join(DTYPES)}")
    if values.get("trust_remote_code", "False") not in ("True", "False", "true", "false"):
        raise LangAdaptError(f"--model_args trust_remote_code={values['trust_remote_code']}: expected True or False")
    return values


def task_names(patterns: str) -> list[str]:
    """The fork's pattern_match: every registered name matching a pattern, sorted."""
    names = set()
    for pattern in patterns.split(","):
        matched = fnmatch.filter(FORK_TASKS, pattern)
        if not matched:
            raise LangAdaptError(f"--tasks {pattern}: not a task of the harness fork; e.g. ogx_xquad_hi, "
                                 f"ogx_xquad_enhi, ogx_mlqa_de (XQuAD: {', '.join(_XQUAD)}; MLQA: {', '.join(_MLQA)})")
        names.update(matched)
    return sorted(names)


def task_config(name: str, args: argparse.Namespace, limit: Optional[int]) -> EvalConfig:
    task, lang, split = FORK_TASKS[name]
    return EvalConfig(task=task, lang=lang, split=split, num_fewshot=args.num_fewshot, limit=limit,
                      data_path=args.data_path, batch_size=args.batch_size or 1, fork_model=args.model)


def resolve_limit(limit: Optional[float], n_docs: int) -> Optional[int]:
    """The fork's rule: a limit below 1 is a fraction of the documents, rounded up."""
    if limit is None:
        return None
    return int(math.ceil(n_docs * limit)) if limit < 1.0 else int(limit)


def results_json(args: argparse.Namespace, metrics: dict[str, dict]) -> dict:
    """The fork's simple_evaluate result: metrics per task, task versions (all 0), and the run's config."""
    return {"results": metrics, "versions": {name: 0 for name in metrics},
            "config": {"model": args.model, "model_args": args.model_args, "num_fewshot": args.num_fewshot,
                       "batch_size": args.batch_size, "device": args.device, "no_cache": args.no_cache,
                       "limit": args.limit, "bootstrap_iters": args.bootstrap_iters, "description_dict": {}}}


def write_json(payload: dict, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(payload, indent=2))
    os.replace(partial, path)


def run_fork_command(argv) -> int:
    """Parse the fork's options, check every input, then evaluate each task and write the fork's JSON."""
    from ..cli import setup_logging
    from ..preflight import check_model_source
    from .model_io import load_model_for_eval, resolve_device
    from .runner import prepare_task, run_prepared

    args = parse_fork_args(argv)
    setup_logging(args.log_level)
    model_args = parse_model_args(args.model_args)
    names = task_names(args.tasks)
    if args.data_path and len(names) > 1:
        raise LangAdaptError(f"--data_path {args.data_path}: one local file serves one task; --tasks names "
                             f"{len(names)} ({', '.join(names)})")
    check_model_source("--model_args pretrained", model_args["pretrained"])
    device = resolve_device(args.device)
    prepared = {}
    for name in names:  # every task's data and prompts checked before the model loads
        n_docs = 0 if args.limit is None or args.limit >= 1 else len(prepare_task(task_config(name, args, None)).docs)
        prepared[name] = prepare_task(task_config(name, args, resolve_limit(args.limit, n_docs)))
    precision = DTYPES[model_args.get("dtype", "auto")]
    model, tokenizer = load_model_for_eval(model_args["pretrained"], device, fp16=precision == "fp16",
                                           bf16=precision == "bf16")
    metrics = {}
    for name, task in prepared.items():
        results, _ = run_prepared(model, tokenizer, task)
        metrics[name] = {"exact_match": results["metrics"]["exact_match"], "f1": results["metrics"]["f1"]}
    payload = results_json(args, metrics)
    print(json.dumps(payload, indent=2))
    if args.output_path:
        write_json(payload, args.output_path)
    return 0
