"""Evaluate a causal LM on XCOPA, XStoryCloze, Belebele, Tatoeba retrieval, XQuAD or MLQA.

Also takes the COMMIT harness fork's main.py options (--model, --model_args, --tasks, ...) as pasted."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from langadapt.cli import make_parser, run_cli, setup_logging
from langadapt.errors import LangAdaptError
from langadapt.evaluation.model_io import add_model_arguments, check_model_arguments, load_model_for_eval
from langadapt.evaluation.config import DIRECTIONS, ORIGINAL_MAX_LENGTH, PMI_PRIORS, SCORING_MODES, EvalConfig
from langadapt.evaluation.tasks import TASKS
from langadapt.evaluation.tasks.qa import FORK_MODELS
from langadapt.preflight import check_path_or_hub_id

logger = logging.getLogger("run_eval")


TATOEBA_DIRECTIONS = {"en2xx": "src2tgt", "xx2en": "tgt2src", "both": "both"}


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    add_model_arguments(p)
    p.add_argument("--task", required=True, help=f"one of: {', '.join(TASKS)}")
    p.add_argument("--lang", required=True, help="language: 2- or 3-letter code, FLORES tag for belebele; "
                                                  "en<lang> (e.g. enhi) for XQuAD/MLQA with English labels")
    p.add_argument("--split", default=None, help="dataset split (default: the task's test split; xstorycloze "
                                                 "takes 'test' for its 'eval' split, as the original)")
    p.add_argument("--batch_size", type=int, default=128, help="examples per forward pass")
    p.add_argument("--scoring", choices=SCORING_MODES, default="cond",
                   help="cond: log-likelihood of the option; pmi: minus lambda x its likelihood after a neutral "
                        "prefix; letter: options listed A/B/.., score of each letter after 'Answer:'")
    p.add_argument("--use_mean_nll", action=argparse.BooleanOptionalAction, default=False,
                   help="divide an option's log-likelihood by its tokens (wins over --length_alpha, as the original)")
    p.add_argument("--length_alpha", type=float, default=0.0,
                   help="divide an option's log-likelihood by tokens^alpha (0: no normalisation)")
    p.add_argument("--pmi_lambda", type=float, default=0.1, help="weight of the prior in --scoring pmi")
    p.add_argument("--pmi_prior", choices=PMI_PRIORS, default="option",
                   help="option: the scored option tokens after the BOS/EOS token alone, normalised like the "
                        "option; original: the original run_eval's prior (the last tokens of each batch-padded "
                        "row, mean per token), which depends on --batch_size")
    p.add_argument("--template", default=None,
                   help="prompt template holding {hypothesis} (the option) over the task's fields, e.g. "
                        "'{premise} {connector}{hypothesis}' for xcopa")
    p.add_argument("--prompt_format", choices=("original", "harness"), default="original",
                   help="original: the sense-adaptation code's run_eval prompts; harness: lm-evaluation-harness 0.4's")
    p.add_argument("--num_fewshot", type=int, default=0, help="solved examples prepended to each prompt")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N examples")
    p.add_argument("--subset", type=int, default=0, help="the original's name for --limit (0: all examples)")
    p.add_argument("--data_path", default=None, help="local file/folder in the hub dataset's format (no download)")
    p.add_argument("--max_length", type=int, default=None,
                   help="longest sequence to score (default: 512 for --prompt_format original's choice tasks, as "
                        "the original; else the model's context; never more than the model's)")
    p.add_argument("--max_new_tokens", type=int, default=None,
                   help="XQuAD/MLQA: longest generated answer (default 256 as the harness fork, or half the "
                        "context of a shorter model)")
    p.add_argument("--fork_model", choices=FORK_MODELS, default=FORK_MODELS[0],
                   help="XQuAD/MLQA: the harness fork's --model class whose generation to follow. "
                        "hf-causal-experimental (the COMMIT README's): the model's EOS ends an answer; hf, hf-causal: "
                        "the first token of '\\n' ends it instead and an EOS stays in the answer as text")
    p.add_argument("--retrieval_direction", choices=DIRECTIONS, default=None,
                   help="tatoeba_retrieval direction (src2tgt = English to the language)")
    p.add_argument("--tatoeba_dir", choices=tuple(TATOEBA_DIRECTIONS), default="en2xx",
                   help="the original's name for the retrieval direction: en2xx, xx2en or both")
    p.add_argument("--tatoeba_file", default=None,
                   help="tatoeba_retrieval: local TSV (header src, tgt) or any --data_path file of pairs")
    p.add_argument("--original_retrieval_indexing", action=argparse.BooleanOptionalAction, default=False,
                   help="tatoeba_retrieval as the original computed it: every sentence of a batch pooled from the "
                        "batch's last sentence's hidden states (recall then moves with --batch_size)")
    p.add_argument("--shared_context", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse the context's cache for its options (--no-shared_context: score each option as a full "
                        "sequence)")
    p.add_argument("--output_file", default=None, help="results JSON")
    p.add_argument("--log_samples", default=None, help="per-example JSONL")
    p.add_argument("--use_wandb", action=argparse.BooleanOptionalAction, default=False, help="log the results to Weights & Biases")
    p.add_argument("--wandb_project", default="eval", help="W&B project")
    p.add_argument("--wandb_entity", default=None, help="W&B entity (team or user)")
    p.add_argument("--wandb_run_name", default=None, help="W&B run name (default: task-lang-scoring)")
    p.add_argument("--wandb_group", default=None, help="W&B group")
    p.add_argument("--wandb_job_type", default="eval", help="W&B job type")
    p.add_argument("--silence_warnings", action=argparse.BooleanOptionalAction, default=False, help="hide Python warnings")
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def config_from_args(args) -> EvalConfig:
    if args.tatoeba_file and args.data_path:
        raise LangAdaptError("--tatoeba_file and --data_path both name the data; pass one of them")
    if args.subset < 0:
        raise LangAdaptError(f"--subset must be >= 0, got {args.subset}")
    max_length = args.max_length
    if max_length is None and args.prompt_format == "original" and TASKS.get(args.task) and \
            TASKS[args.task].kind == "choice":
        max_length = ORIGINAL_MAX_LENGTH
    return EvalConfig(
        task=args.task, lang=args.lang, split=args.split, scoring=args.scoring, use_mean_nll=args.use_mean_nll,
        length_alpha=args.length_alpha, pmi_lambda=args.pmi_lambda, pmi_prior=args.pmi_prior,
        template=args.template, prompt_format=args.prompt_format, num_fewshot=args.num_fewshot,
        limit=args.limit or (args.subset or None), data_path=args.data_path or args.tatoeba_file,
        batch_size=args.batch_size, max_length=max_length, max_new_tokens=args.max_new_tokens,
        retrieval_direction=args.retrieval_direction or TATOEBA_DIRECTIONS[args.tatoeba_dir],
        share_context=args.shared_context, original_retrieval_indexing=args.original_retrieval_indexing,
        fork_model=args.fork_model)


def main(argv=None) -> int:
    from langadapt.evaluation.fork_cli import is_fork_command, run_fork_command

    if is_fork_command(sys.argv[1:] if argv is None else argv):  # the COMMIT README's harness command line
        return run_fork_command(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    from langadapt.evaluation.reporting import log_to_wandb, summary_line, write_results, write_samples  # torch
    from langadapt.evaluation.runner import prepare_task, run_prepared

    setup_logging(args.log_level)
    if args.silence_warnings:
        warnings.filterwarnings("ignore")
    config = config_from_args(args)
    for flag in ("data_path", "tatoeba_file"):  # local files only: named by their flag when missing
        if getattr(args, flag):
            check_path_or_hub_id(f"--{flag}", getattr(args, flag), kind=None)
    device = check_model_arguments(args)
    task = prepare_task(config)  # every input checked before the model loads
    model, tokenizer = load_model_for_eval(args.model_path, device, args.fp16, args.bf16)
    results, samples = run_prepared(model, tokenizer, task)
    results["model_path"] = args.model_path
    write_samples(samples, args.log_samples)
    write_results(results, args.output_file)
    if args.use_wandb:
        log_to_wandb(results, project=args.wandb_project, entity=args.wandb_entity, group=args.wandb_group,
                     job_type=args.wandb_job_type,
                     name=args.wandb_run_name or f"{results['task']}-{args.lang}-{args.scoring}")
    print(summary_line(results))
    return 0


if __name__ == "__main__":
    run_cli(main)
