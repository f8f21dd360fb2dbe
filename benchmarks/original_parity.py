"""Parity of `run_eval --prompt_format original` and of XQuAD/MLQA with the original code, run side by side.

Needs local copies the user points to (never committed, never imported by the library or the tests):
`--sensia_run_eval` (the sense-adaptation repository's run_eval.py) and `--fork_tasks` (COMMIT's
lm-evaluation-harness/lm_eval/tasks/opengptx folder). Both run on fresh rows written here (the bundled
Swahili sentences, recombined with a seed, with stray spaces the originals strip) and on one small
random GPT-2 at a small `--max_length`, so truncation is active.

sensia: its own `evaluate()` runs with `load_dataset` answering with those rows; its per-batch predictions
and option scores are read from its loop. Printed per task and scoring: accuracies, identical-prediction
share, max |delta| of the option scores. Fork: its task classes' `doc_to_text` for every XQuAD/MLQA
language and English-label variant it defines, against ours: the count of byte-identical prompts.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import random
import sys
import tempfile
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import build_model, swahili_sentences, fresh_rows  # noqa: E402
from langadapt.evaluation.model_io import load_model_for_eval  # noqa: E402
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402
from langadapt.evaluation.tasks.qa import prompt_of  # noqa: E402

XCOPA_TEMPLATE = "Jibu: {hypothesis} ({premise})"  # the option before the premise: found, not appended
def load_sensia(path: str):
    """The original run_eval as a module, its MC loop also recording predictions and option scores."""
    source = Path(path).read_text(encoding="utf-8")
    hook = "        correct += sum(int(p == g) for p, g in zip(pred, gold))"
    if hook not in source:
        raise SystemExit(f"error: --sensia_run_eval {path}: not the expected run_eval.py (its MC loop differs)")
    record = "        RECORD['pred'].extend(pred); RECORD['score'].extend(score.tolist())\n"
    source = source.replace(hook, record + hook)
    module = types.ModuleType("sensia_run_eval")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 - the user's own copy of the original
    return module


def run_sensia(module, model_dir: str, task: str, rows: list[dict], args, scoring: str, flags: dict):
    from datasets import Dataset

    module.load_dataset = lambda *a, **k: Dataset.from_list(rows)
    module.RECORD = {"pred": [], "score": []}
    with contextlib.redirect_stdout(sys.stderr):  # its accuracy lines; our stdout is one JSON object
        module.evaluate(task=task, model_path=model_dir, lang3="swh", split="test", batch_size=args.batch_size,
                        max_length=args.max_length, fp16=False, device="cpu", subset=0, scoring=scoring,
                        pmi_lambda=flags.get("pmi_lambda", 0.1), use_mean_nll=flags.get("use_mean_nll", False),
                        length_alpha=1.0 if flags.get("use_mean_nll") else flags.get("length_alpha", 0.0),
                        template=flags.get("template"), use_wandb=False, wandb_project="eval", wandb_entity=None,
                        wandb_run_name=None, wandb_group=None, wandb_job_type="eval", tatoeba_dir="en2xx",
                        tatoeba_file=None)
    return module.RECORD


def compare_sensia(module, model, tokenizer, model_dir: str, work: Path, args) -> dict:
    figures = {}
    variants = [("cond", {}), ("cond", {"use_mean_nll": True}), ("cond", {"length_alpha": 0.5}),
                ("pmi", {"pmi_prior": "original"}), ("pmi", {"pmi_prior": "original", "use_mean_nll": True})]
    for task in ("xcopa", "xstorycloze", "belebele"):
        task_variants = variants + ([("cond", {"template": XCOPA_TEMPLATE})] if task == "xcopa" else [])
        data = work / f"{task}.jsonl"
        rows = fresh_rows(task, args.examples, seed=len(task), target=data)
        for scoring, flags in task_variants:
            theirs = run_sensia(module, model_dir, task, rows, args, scoring, flags)
            config = EvalConfig(task=task, lang="sw" if task != "belebele" else "swh_Latn", data_path=str(data),
                                scoring=scoring, batch_size=args.batch_size, max_length=args.max_length,
                                prompt_format="original", progress=False,
                                **{k: v for k, v in flags.items()})
            results, samples = run_evaluation(model, tokenizer, config)
            our_scores = [v for s in samples for v in s["scores"]]
            name = f"{task}/{scoring}" + "".join(f"/{k}={v}" for k, v in flags.items())
            figures[name] = {
                "examples": len(samples), "truncated": results["truncated"],
                "acc_ours": results["metrics"]["acc"],
                "acc_sensia": sum(p == s["label"] for p, s in zip(theirs["pred"], samples)) / len(samples),
                "same_prediction_share": sum(p == s["pred"] for p, s in zip(theirs["pred"], samples)) / len(samples),
                "max_abs_score_diff": max(abs(a - b) for a, b in zip(our_scores, theirs["score"], strict=True))}
    return figures


def load_fork_module(folder: Path, name: str):
    """A fork task file with stand-ins for the old harness modules it imports (only doc_to_text is used)."""
    saved = {key: sys.modules.get(key) for key in ("lm_eval", "lm_eval.base", "lm_eval.tasks", "lm_eval.tasks.squad")}
    stub = types.ModuleType("lm_eval")
    base = types.ModuleType("lm_eval.base")
    base.rf, base.Task = None, type("Task", (), {})
    squad = types.ModuleType("lm_eval.tasks.squad")
    squad.SQuAD2 = type("SQuAD2", (), {})
    sys.modules.update({"lm_eval": stub, "lm_eval.base": base, "lm_eval.tasks": types.ModuleType("lm_eval.tasks"),
                        "lm_eval.tasks.squad": squad})
    try:
        spec = importlib.util.spec_from_file_location(f"fork_{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    return module


def compare_fork(folder: Path) -> dict:
    rng, pool = random.Random(7), swahili_sentences()
    doc = {"context": " ".join(rng.choice(pool) for _ in range(3)), "question": rng.choice(pool)}
    figures = {}
    for task, prefix in (("xquad", "XQuAD"), ("mlqa", "MLQA")):
        module = load_fork_module(folder, task)
        classes = {name: cls for name, cls in vars(module).items()
                   if isinstance(cls, type) and name.startswith(prefix) and "Base" not in name and "Val" not in name}
        same, checked = 0, []
        for name, cls in classes.items():
            code = name[len(prefix):].lower()  # "hi", or "enhi" for the English-label variants
            lang = "en" + code[2:] if code.startswith("en") and len(code) == 4 else code
            fork_prompt = cls.doc_to_text(object.__new__(cls), doc)
            same += prompt_of(task, doc, lang) == fork_prompt
            checked.append(lang)
        figures[task] = {"fork_tasks": len(classes), "byte_identical": same, "languages": sorted(checked)}
    return figures


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sensia_run_eval", required=True, help="path of the original run_eval.py")
    p.add_argument("--fork_tasks", required=True, help="path of the fork's lm_eval/tasks/opengptx folder")
    p.add_argument("--examples", type=int, default=40)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--max_length", type=int, default=96, help="small, so that long rows are truncated")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="original-parity-"))
    model_dir = build_model(work / "model")
    model, tokenizer = load_model_for_eval(model_dir, "cpu")
    figures = {"fork": compare_fork(Path(args.fork_tasks)),
               "sensia": compare_sensia(load_sensia(args.sensia_run_eval), model, tokenizer, model_dir, work, args)}
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
