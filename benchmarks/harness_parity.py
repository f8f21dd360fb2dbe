"""Parity and speed of `run_eval --prompt_format harness` against lm-evaluation-harness 0.4.

Both run the same local GPT-2 (random weights; one per `--sizes` entry, layers x width, with its own row
count after a colon where a wide model would take too long on CPU) on the same local rows, CPU, same batch
size and the same context limit (`--max_length`; pass one below the longest prompt to compare truncation).
The harness gets task configs that read the same fresh local rows (bundled Swahili sentences recombined at
random, written as JSONL) and use its own prompt definitions (xcopa: its utils functions; belebele and
xstorycloze: its yaml templates). Prints one JSON object, per size and task: accuracies (acc and acc_norm),
the share of identical predictions, the largest per-option log-likelihood difference, how many examples were
truncated, examples/s of each (end to end: data loading, prompts, scoring, metrics; best of alternating
repeats), the speed ratio and the 1-minute load average around the runs (a shared machine). `flops_*` are
the floating-point operations each engine asked of the model over the whole task (one untimed extra run of
each under torch's FlopCounterMode): their ratio, `flop_ratio`, is the speed-up that doing less work can give
at equal speed per operation, so a `speedup` target above it needs faster arithmetic, not less of it.
`padding_share_ours` is the share of the positions our engine fed the model that were padding. lm_eval is
imported from this interpreter's packages: run the script with a Python that has lm-eval==0.4.13 installed
(it is never a dependency of the project).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import add_benchmark_arguments, fresh_rows, prepare  # noqa: E402
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402


def harness_task_dir(name: str) -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks" / name


def harness_xcopa_task(data_file: str) -> dict:
    """xcopa_sw with the harness's own prompt functions (its task folder is not an importable package)."""
    spec = importlib.util.spec_from_file_location("harness_xcopa_utils", harness_task_dir("xcopa") / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    return {"doc_to_text": utils.doc_to_text_sw, "doc_to_target": "label", "doc_to_choice": utils.doc_to_choice}


def harness_belebele_task(data_file: str) -> dict:
    """belebele with the templates of the harness's yaml (read as text: it holds no custom tags)."""
    template = yaml.safe_load((harness_task_dir("belebele") / "_default_template_yaml").read_text())
    return {key: template[key] for key in ("doc_to_text", "doc_to_target", "doc_to_choice")}


def harness_xstorycloze_task(data_file: str) -> dict:
    """xstorycloze with the templates of the harness's yaml (every language includes default_ar.yaml's)."""
    template = yaml.safe_load((harness_task_dir("xstorycloze") / "default_ar.yaml").read_text())
    return {key: template[key] for key in ("doc_to_text", "doc_to_target", "doc_to_choice")}


@functools.lru_cache(maxsize=1)
def task_manager():
    """lm-eval's task manager without its index of bundled tasks (the configs here are dicts), made once."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False)


def run_harness(model, tokenizer, name: str, fields: dict, data_file: str, args):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    task = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": data_file}},
            "test_split": "test", "output_type": "multiple_choice",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}], **fields}
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device=args.device,
              max_length=args.max_length)
    manager = task_manager() if args.exclude_harness_startup else None
    start = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=[task], log_samples=True, bootstrap_iters=0, task_manager=manager)
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
    return samples, out["results"][name], seconds


def counted_flops(run) -> int:
    """Floating-point operations of `run()`, as torch's dispatcher counts them (matmuls and attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def padding_share(model, run) -> float:
    """Share of the positions fed to `model` during `run()` that are padding: each forward's input ids
    against the real ones its attention mask marks (its last columns when a cache precedes them)."""
    fed = real = 0

    def count(_module, _args, kwargs):
        nonlocal fed, real
        ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
        fed += ids.numel()
        real += ids.numel() if mask is None else int(mask[:, -ids.shape[1]:].sum())

    hook = model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        run()
    finally:
        hook.remove()
    return round(1 - real / fed, 4)


def compare(model, tokenizer, task: str, lang: str, data: str, harness_fields: dict, args) -> dict:
    config = EvalConfig(task=task, lang=lang, split="test", data_path=data, prompt_format="harness",
                        batch_size=args.batch_size, max_length=args.max_length, progress=False)
    run_evaluation(model, tokenizer, EvalConfig(**{**config.__dict__, "limit": args.batch_size}))  # warm-up
    our_seconds, harness_seconds, loads = [], [], [os.getloadavg()[0]]
    for _ in range(args.repeats):  # alternate, so both see the same load on a shared machine
        ours, our_samples = run_evaluation(model, tokenizer, config)
        our_seconds.append(ours["seconds"])
        harness_samples, harness_metrics, seconds = run_harness(model, tokenizer, f"{task}_local", harness_fields,
                                                                data, args)
        harness_seconds.append(seconds)
        loads.append(os.getloadavg()[0])
    flops_ours = counted_flops(lambda: run_evaluation(model, tokenizer, config))
    flops_harness = counted_flops(lambda: run_harness(model, tokenizer, f"{task}_local", harness_fields, data, args))
    padding = padding_share(model, lambda: run_evaluation(model, tokenizer, config))
    max_diff, same_prediction = 0.0, 0
    for mine, theirs in zip(our_samples, harness_samples, strict=True):
        their_ll = [resp[0][0] for resp in theirs["resps"]]
        max_diff = max(max_diff, *(abs(a - b) for a, b in zip(mine["loglikelihoods"], their_ll, strict=True)))
        same_prediction += mine["pred"] == max(range(len(their_ll)), key=their_ll.__getitem__)
    our_rate, harness_rate = len(our_samples) / min(our_seconds), len(our_samples) / min(harness_seconds)
    return {"acc_ours": ours["metrics"]["acc"], "acc_harness": harness_metrics["acc,none"],
            "acc_norm_ours": ours["metrics"]["acc_norm"], "acc_norm_harness": harness_metrics["acc_norm,none"],
            "truncated_examples": ours["truncated"],
            "same_prediction_share": same_prediction / len(our_samples), "max_abs_loglikelihood_diff": max_diff,
            "examples_per_s_ours": our_rate, "examples_per_s_harness": harness_rate, "speedup": our_rate / harness_rate,
            "flops_ours": flops_ours, "flops_harness": flops_harness,
            "flop_ratio": round(flops_harness / flops_ours, 3), "padding_share_ours": padding,
            "load_1min": [round(load, 2) for load in loads]}, our_samples


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    add_benchmark_arguments(p)
    p.add_argument("--max_length", type=int, default=None,
                   help="context limit of both (default: the model's 256 positions; e.g. 48 truncates)")
    p.add_argument("--tasks", nargs="+", choices=("xcopa", "xstorycloze", "belebele"),
                   default=["xcopa", "xstorycloze", "belebele"])
    p.add_argument("--sizes", nargs="+", default=["2x32", "4x256", "12x768:64"],
                   help="models as LAYERSxWIDTH[:ROWS] (ROWS replaces --examples for that size); "
                        "overrides --n_layer/--n_embd")
    p.add_argument("--save_predictions", default=None,
                   help="JSON file for our per-example predictions and log-likelihoods (to diff two versions)")
    p.add_argument("--exclude_harness_startup", action="store_true",
                   help="build lm-eval's task manager once, outside the timing, without its index of bundled tasks "
                        "(seconds per run that a start-up costs, not the scoring)")
    p.add_argument("--device", default="cpu", help="where both engines run (cuda: the model in fp16)")
    return p.parse_args(argv)


def measure(args: argparse.Namespace) -> dict:
    """The figures main() prints (and, with --save_predictions, our predictions written)."""
    predictions = {}
    harness_tasks = {"xcopa": ("sw", harness_xcopa_task), "xstorycloze": ("sw", harness_xstorycloze_task),
                     "belebele": ("swh", harness_belebele_task)}
    figures = {"batch_size": args.batch_size, "repeats": args.repeats, "max_length": args.max_length, "sizes": {}}
    for size in args.sizes:
        shape, _, rows = size.partition(":")
        layers, width = shape.split("x")
        sized = argparse.Namespace(**{**vars(args), "n_layer": int(layers), "n_embd": int(width),
                                      "examples": int(rows or args.examples)})
        work, model, tokenizer, described = prepare(sized, args.device, fp16=args.device != "cpu")
        figures["sizes"][shape] = result = {"model": described, "examples": sized.examples}
        for task in args.tasks:
            data = work / f"{task}.jsonl"
            fresh_rows(task, sized.examples, seed=len(task), target=data)
            lang, harness_fields = harness_tasks[task]
            result[task], samples = compare(model, tokenizer, task, lang, str(data), harness_fields(str(data)), sized)
            if args.save_predictions:
                predictions[f"{shape}/{task}"] = [[s["pred"], s["loglikelihoods"]] for s in samples]
    if args.save_predictions:
        Path(args.save_predictions).write_text(json.dumps(predictions))
    return figures


def main(argv=None) -> None:
    print(json.dumps(measure(parse(argv))))


if __name__ == "__main__":
    main()
