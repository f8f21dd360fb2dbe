"""Run one task on one model: documents -> prompts -> engine -> metrics and per-example records."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Optional

import torch

from ..errors import LangAdaptError
from .config import EvalConfig
from .encoding import harness_rows, original_rows
from .generation import EndRule, GreedyGenerator
from .metrics import exact_match_and_f1, mean, normalizer_for
from .model_io import context_length, prefix_token_id
from .retrieval import embed_sentences, recall_at_1
from .scoring import ContinuationScore, LoglikelihoodScorer, OptionRow
from .tasks import get_task
from .tasks.base import ChoiceExample, TaskSpec, as_letter_example, with_fewshot
from .tasks.loading import load_task_documents
from .tasks.qa import MAX_NEW_TOKENS

logger = logging.getLogger(__name__)


def option_score(score: ContinuationScore, alpha: float) -> float:
    """Log-likelihood divided by tokens^alpha (0: the sum; 1: the mean per token)."""
    return score.logprob / max(score.n_tokens, 1) ** alpha


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def fewshot_shots(examples: list, index: int, k: int) -> list:
    """The first k other examples of the set (deterministic, never the example itself)."""
    return [ex for j, ex in enumerate(examples) if j != index][:k]


@dataclass
class PreparedTask:
    """Everything checked and built before a model is loaded: the task, language, documents, examples."""
    config: EvalConfig
    spec: TaskSpec
    lang: str
    docs: list[dict]
    examples: list


def prepare_task(config: EvalConfig) -> PreparedTask:
    """Validate the flags, load the documents and build every prompt (bad rows are errors naming the row)."""
    config.validate()
    spec = get_task(config.task)
    lang = spec.check_lang(config.lang)
    if config.original_retrieval_indexing and spec.kind != "retrieval":
        raise LangAdaptError(f"--original_retrieval_indexing applies to tatoeba_retrieval, not {spec.name}")
    if spec.kind != "choice" and config.scoring != "cond":
        raise LangAdaptError(f"--scoring {config.scoring} applies to multiple-choice tasks, not {spec.name}")
    docs = load_task_documents(spec, lang, config.split, config.data_path, config.limit)
    examples = []
    source = f"--data_path {config.data_path}" if config.data_path else f"--task {spec.name} ({spec.hub_path})"
    for i, doc in enumerate(docs):
        try:
            examples.append(spec.build(doc, lang, config.prompt_format, config.template))
        except LangAdaptError as err:
            if str(err).startswith("--"):  # a flag's problem, not the row's
                raise
            raise LangAdaptError(f"{source}: row {i}: {err}") from None
        except KeyError as err:
            raise LangAdaptError(f"{source}: row {i}: missing field {err}") from None
    if spec.kind == "choice":
        if config.scoring == "letter":
            examples = [as_letter_example(ex) for ex in examples]
        if config.num_fewshot:
            examples = [with_fewshot(ex, fewshot_shots(examples, i, config.num_fewshot))
                        for i, ex in enumerate(examples)]
    return PreparedTask(config, spec, lang, docs, examples)


def run_evaluation(model, tokenizer, config: EvalConfig) -> tuple[dict, list[dict]]:
    """(results, per-example records) for `config.task` on `model`."""
    return run_prepared(model, tokenizer, prepare_task(config))


def run_prepared(model, tokenizer, task: PreparedTask) -> tuple[dict, list[dict]]:
    config, spec = task.config, task.spec
    model_limit = context_length(model, tokenizer)
    max_length = min(config.max_length or model_limit, model_limit)
    start = time.perf_counter()
    runners = {"choice": _run_choice, "qa": _run_qa, "retrieval": _run_retrieval}
    metrics, samples, truncated = runners[spec.kind](model, tokenizer, task, max_length)
    seconds = time.perf_counter() - start
    results = {
        "task": spec.name, "lang": task.lang, "split": spec.resolve_split(config.split),
        "config": {k: v for k, v in asdict(config).items() if k not in ("progress",)},
        "n_examples": len(task.docs), "metrics": metrics, "truncated": truncated, "max_length": max_length,
        "seconds": seconds, "examples_per_second": len(task.docs) / seconds if seconds > 0 else None,
    }
    return results, samples


def encode_example(tokenizer, example: ChoiceExample, prefix: int, max_length: int):
    if example.pieces is not None:
        return original_rows(tokenizer, list(zip(example.pieces, example.choices)), max_length)
    return harness_rows(tokenizer, example.context, example.choices, prefix, max_length)


def option_priors(tokenizer, example: ChoiceExample, rows: list[OptionRow], prefix: int,
                  max_length: int) -> list[OptionRow]:
    """Each option after the neutral prefix token alone: the same scored tokens (original format), or the
    continuation encoded after an empty context (harness format, as lm-eval's acc_mutual_info)."""
    if example.pieces is not None:
        return [OptionRow([prefix] + row.tokens[row.first_scored:], row.n_scored, row.length) for row in rows]
    return harness_rows(tokenizer, "", example.choices, prefix, max_length).rows


def original_priors(encoded: list, pad_id: int, batch_size: int, alpha: float) -> list[list[OptionRow]]:
    """The original run_eval's PMI prior: per batch of `batch_size` examples in dataset order, each option's
    whole row right-padded to the batch's longest, and of it the last int(normaliser) tokens (pads
    included) scored, the normaliser being the option's tokens^alpha in float32 (1 without normalisation)."""
    priors = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start: start + batch_size]
        width = max(len(whole) for enc in chunk for whole in enc.whole)
        for enc in chunk:
            priors.append([OptionRow(whole + [pad_id] * (width - len(whole)),
                                     original_prior_tokens(row.norm_tokens, alpha))
                           for whole, row in zip(enc.whole, enc.rows)])
    return priors


def original_prior_tokens(n_tokens: int, alpha: float) -> int:
    return int(torch.tensor(float(n_tokens)).clamp_min(1.0).pow(alpha).item())


def _run_choice(model, tokenizer, task: PreparedTask, max_length: int):
    config, examples = task.config, task.examples
    prefix = prefix_token_id(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else prefix
    encoded = [encode_example(tokenizer, ex, prefix, max_length) for ex in examples]
    truncated = sum(enc.truncated for enc in encoded)
    scorer = LoglikelihoodScorer(model, pad_id, max_length, config.batch_size, config.share_context, config.progress)
    scores = scorer.score([enc.rows for enc in encoded])
    priors = prior_alpha = None
    if config.scoring == "pmi":
        if config.pmi_prior == "original":  # mean per token, whatever the option's normalisation
            original_pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            prior_rows, prior_alpha = original_priors(encoded, original_pad, config.batch_size, config.alpha), 1.0
        else:
            prior_rows = [option_priors(tokenizer, ex, enc.rows, prefix, max_length)
                          for ex, enc in zip(examples, encoded)]
            prior_alpha = config.alpha
        priors = scorer.score(prior_rows)
    samples, correct, correct_norm = [], [], []
    for i, ex in enumerate(examples):
        values = [option_score(s, config.alpha) for s in scores[i]]
        if priors is not None:
            values = [v - config.pmi_lambda * option_score(p, prior_alpha) for v, p in zip(values, priors[i])]
        by_chars = [s.logprob / n for s, n in zip(scores[i], ex.norm_lengths())]
        pred = argmax(values)
        correct.append(float(pred == ex.label))
        correct_norm.append(float(argmax(by_chars) == ex.label))
        samples.append({
            "id": ex.id, "context": ex.context, "choices": ex.choices, "label": ex.label, "pred": pred,
            "correct": pred == ex.label, "scores": values, "loglikelihoods": [s.logprob for s in scores[i]],
            "n_tokens": [s.n_tokens for s in scores[i]], "is_greedy": [s.is_greedy for s in scores[i]],
            **({"prior_loglikelihoods": [p.logprob for p in priors[i]]} if priors is not None else {}),
        })
    return {"acc": mean(correct), "acc_norm": mean(correct_norm)}, samples, truncated


def generation_limit(requested: Optional[int], max_length: int) -> int:
    """The fork's 256 new tokens, or half the context of a model too short for them."""
    if requested is not None:
        return requested
    if MAX_NEW_TOKENS < max_length // 2:
        return MAX_NEW_TOKENS
    logger.warning("the model's context (%d) is too short for %d new tokens: generating up to %d",
                   max_length, MAX_NEW_TOKENS, max_length // 2)
    return max_length // 2


def fork_end_rule(fork_model: str, tokenizer) -> EndRule:
    """How the fork's `--model` class ends an answer (see `tasks.qa.FORK_MODELS`)."""
    if fork_model == "hf-causal-experimental":
        return EndRule()
    newline_first = tokenizer.encode("\n", add_special_tokens=False)[0]
    return EndRule(end_token=newline_first, keep_end=True, skip_special_tokens=False, watch_stops=False)


def _run_qa(model, tokenizer, task: PreparedTask, max_length: int):
    config, spec, lang, examples = task.config, task.spec, task.lang, task.examples
    prompts = []
    for i, ex in enumerate(examples):
        shots = fewshot_shots(examples, i, config.num_fewshot)
        solved = "".join(f"{shot.prompt} {shot.answers[0]}\n\n" for shot in shots)
        prompts.append(tokenizer.encode(solved + ex.prompt, add_special_tokens=False))
    generator = GreedyGenerator(model, tokenizer, max_length, config.batch_size,
                                generation_limit(config.max_new_tokens, max_length), progress=config.progress,
                                end=fork_end_rule(config.fork_model, tokenizer))
    predictions = generator.generate(prompts)
    data_lang = lang[2:] if len(lang) == 4 else lang
    normalize = normalizer_for(spec.extra["normalisation"], data_lang)
    samples, ems, f1s = [], [], []
    for ex, prediction in zip(examples, predictions):
        prediction = prediction.strip()
        em, f1 = exact_match_and_f1(prediction, ex.answers, normalize)
        ems.append(em)
        f1s.append(f1)
        samples.append({"id": ex.id, "question": ex.question, "prediction": prediction, "answers": ex.answers,
                        "exact_match": em * 100, "f1": f1 * 100})
    return {"exact_match": 100 * mean(ems), "f1": 100 * mean(f1s)}, samples, generator.truncated


def _run_retrieval(model, tokenizer, task: PreparedTask, max_length: int):
    config, pairs = task.config, task.examples
    src, tgt = [embed_sentences(model, tokenizer, side, max_length, config.batch_size, config.progress,
                                 config.original_retrieval_indexing) for side in zip(*pairs)]
    metrics, picks = {}, {}
    if config.retrieval_direction in ("both", "src2tgt"):
        metrics["recall@1_src2tgt"], picks["src2tgt"] = recall_at_1(src, tgt)
    if config.retrieval_direction in ("both", "tgt2src"):
        metrics["recall@1_tgt2src"], picks["tgt2src"] = recall_at_1(tgt, src)
    metrics["recall@1"] = mean(list(metrics.values()))
    samples = [{"index": i, "source": s, "target": t, **{f"pick_{d}": p[i] for d, p in picks.items()}}
               for i, (s, t) in enumerate(pairs)]
    truncated = sum(1 for s, t in pairs for text in (s, t)
                    if len(tokenizer.encode(text, add_special_tokens=False)) > max_length)
    return metrics, samples, truncated
