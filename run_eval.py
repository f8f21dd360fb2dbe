"""Evaluate a causal LM on XCOPA, XStoryCloze, Belebele, Tatoeba retrieval, XQuAD or MLQA."""
from __future__ import annotations

import argparse
import logging

from langadapt.cli import run_cli, setup_logging
from langadapt.evaluation.model_io import add_model_arguments, load_model_for_eval
from langadapt.evaluation.reporting import summary_line, write_results, write_samples
from langadapt.evaluation.runner import DIRECTIONS, SCORING_MODES, EvalConfig, run_evaluation
from langadapt.evaluation.tasks import TASKS

logger = logging.getLogger("run_eval")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    add_model_arguments(p)
    p.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--lang", required=True, help="language: 2- or 3-letter code, FLORES tag for belebele; "
                                                  "en<lang> (e.g. enhi) for XQuAD/MLQA with English labels")
    p.add_argument("--split", default=None, help="dataset split (default: the task's test split)")
    p.add_argument("--batch_size", type=int, default=16, help="examples per forward pass")
    p.add_argument("--scoring", choices=SCORING_MODES, default="cond",
                   help="cond: log-likelihood of the option; pmi: minus lambda x its likelihood after a neutral "
                        "prefix; letter: options listed A/B/.., score of each letter after 'Answer:'")
    p.add_argument("--use_mean_nll", action="store_true", help="divide an option's log-likelihood by its tokens")
    p.add_argument("--length_alpha", type=float, default=None,
                   help="divide an option's log-likelihood by tokens^alpha (overrides --use_mean_nll)")
    p.add_argument("--pmi_lambda", type=float, default=1.0, help="weight of the prior in --scoring pmi")
    p.add_argument("--template", default=None,
                   help="prompt template ending in {hypothesis}, over the task's fields, e.g. "
                        "'{premise} {connector}{hypothesis}' for xcopa")
    p.add_argument("--prompt_format", choices=("original", "harness"), default="original",
                   help="original: the sense-adaptation code's prompts; harness: lm-evaluation-harness 0.4's")
    p.add_argument("--num_fewshot", type=int, default=0, help="solved examples prepended to each prompt")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N examples")
    p.add_argument("--data_path", default=None, help="local file/folder in the hub dataset's format (no download)")
    p.add_argument("--max_length", type=int, default=None, help="model context to use (default: the model's)")
    p.add_argument("--max_new_tokens", type=int, default=64, help="XQuAD/MLQA: longest generated answer")
    p.add_argument("--retrieval_direction", choices=DIRECTIONS, default="both", help="tatoeba_retrieval direction")
    p.add_argument("--no_shared_context", action="store_true",
                   help="score each option as a full sequence instead of reusing the context's cache")
    p.add_argument("--output_file", default=None, help="results JSON")
    p.add_argument("--log_samples", default=None, help="per-example JSONL")
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)
    config = EvalConfig(
        task=args.task, lang=args.lang, split=args.split, scoring=args.scoring, use_mean_nll=args.use_mean_nll,
        length_alpha=args.length_alpha, pmi_lambda=args.pmi_lambda, template=args.template,
        prompt_format=args.prompt_format, num_fewshot=args.num_fewshot, limit=args.limit, data_path=args.data_path,
        batch_size=args.batch_size, max_length=args.max_length, max_new_tokens=args.max_new_tokens,
        retrieval_direction=args.retrieval_direction, share_context=not args.no_shared_context)
    config.validate()
    model, tokenizer = load_model_for_eval(args.model_path, args.device, args.fp16, args.bf16)
    results, samples = run_evaluation(model, tokenizer, config)
    results["model_path"] = args.model_path
    write_samples(samples, args.log_samples)
    write_results(results, args.output_file)
    print(summary_line(results))
    return 0


if __name__ == "__main__":
    run_cli(main)
