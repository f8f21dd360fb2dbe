"""Run one task on one model: documents -> prompts -> engine -> metrics and per-example records."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Optional

from ..errors import LangAdaptError
from .encoding import encode_choices
from .generation import GreedyGenerator
from .metrics import exact_match_and_f1, mean, normalizer_for
from .model_io import context_length, prefix_token_id
from .retrieval import embed_sentences, recall_at_1
from .scoring import ContinuationScore, LoglikelihoodScorer
from .tasks import get_task
from .tasks.base import ChoiceExample, as_letter_example, with_fewshot
from .tasks.loading import load_task_documents

logger = logging.getLogger(__name__)

SCORING_MODES = ("cond", "pmi", "letter")
DIRECTIONS = ("both", "src2tgt", "tgt2src")


@dataclass
class EvalConfig:
    task: str
    lang: str
    split: Optional[str] = None
    scoring: str = "cond"
    use_mean_nll: bool = False
    length_alpha: Optional[float] = None
    pmi_lambda: float = 1.0
    template: Optional[str] = None
    prompt_format: str = "original"
    num_fewshot: int = 0
    limit: Optional[int] = None
    data_path: Optional[str] = None
    batch_size: int = 16
    max_length: Optional[int] = None
    max_new_tokens: int = 64
    retrieval_direction: str = "both"
    share_context: bool = True
    progress: bool = True

    def validate(self) -> None:
        if self.scoring not in SCORING_MODES:
            raise LangAdaptError(f"--scoring {self.scoring}: expected one of {', '.join(SCORING_MODES)}")
        if self.retrieval_direction not in DIRECTIONS:
            raise LangAdaptError(f"--retrieval_direction: expected one of {', '.join(DIRECTIONS)}")
        if self.num_fewshot < 0:
            raise LangAdaptError(f"--num_fewshot must be >= 0, got {self.num_fewshot}")
        if self.length_alpha is not None and self.length_alpha < 0:
            raise LangAdaptError(f"--length_alpha must be >= 0, got {self.length_alpha}")


def option_score(score: ContinuationScore, use_mean_nll: bool, length_alpha: Optional[float]) -> float:
    """Log-likelihood, optionally divided by tokens^alpha (alpha 1 = mean per token)."""
    if length_alpha is not None:
        return score.logprob / score.n_tokens ** length_alpha
    return score.logprob / score.n_tokens if use_mean_nll else score.logprob


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def fewshot_shots(examples: list, index: int, k: int) -> list:
    """The first k other examples of the set (deterministic, never the example itself)."""
    return [ex for j, ex in enumerate(examples) if j != index][:k]


def run_evaluation(model, tokenizer, config: EvalConfig) -> tuple[dict, list[dict]]:
    """(results, per-example records) for `config.task` on `model`."""
    config.validate()
    spec = get_task(config.task)
    lang = spec.check_lang(config.lang)
    if spec.kind != "choice" and config.scoring != "cond":
        raise LangAdaptError(f"--scoring {config.scoring} applies to multiple-choice tasks, not {spec.name}")
    docs = load_task_documents(spec, lang, config.split, config.data_path, config.limit)
    model_limit = context_length(model, tokenizer)
    max_length = min(config.max_length or model_limit, model_limit)
    start = time.perf_counter()
    runners = {"choice": _run_choice, "qa": _run_qa, "retrieval": _run_retrieval}
    metrics, samples, truncated = runners[spec.kind](model, tokenizer, spec, lang, docs, config, max_length)
    seconds = time.perf_counter() - start
    results = {
        "task": spec.name, "lang": lang, "split": config.split or spec.default_split,
        "config": {k: v for k, v in asdict(config).items() if k not in ("progress",)},
        "n_examples": len(docs), "metrics": metrics, "truncated": truncated, "max_length": max_length,
        "seconds": seconds, "examples_per_second": len(docs) / seconds if seconds > 0 else None,
    }
    return results, samples


def build_choice_examples(spec, lang: str, docs: list[dict], config: EvalConfig) -> list[ChoiceExample]:
    examples = [spec.build(doc, lang, config.prompt_format, config.template) for doc in docs]
    if config.scoring == "letter":
        examples = [as_letter_example(ex) for ex in examples]
    if config.num_fewshot:
        examples = [with_fewshot(ex, fewshot_shots(examples, i, config.num_fewshot)) for i, ex in enumerate(examples)]
    return examples


def _run_choice(model, tokenizer, spec, lang, docs, config: EvalConfig, max_length: int):
    examples = build_choice_examples(spec, lang, docs, config)
    prefix = prefix_token_id(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else prefix
    scorer = LoglikelihoodScorer(model, pad_id, max_length, config.batch_size, config.share_context, config.progress)
    scores = scorer.score([encode_choices(tokenizer, ex.context, ex.choices, prefix) for ex in examples])
    truncated = scorer.truncated
    priors = None
    if config.scoring == "pmi":  # the option after a neutral prefix (the BOS/EOS token alone)
        priors = scorer.score([encode_choices(tokenizer, "", ex.choices, prefix) for ex in examples])
    samples, correct, correct_norm = [], [], []
    for i, ex in enumerate(examples):
        values = [option_score(s, config.use_mean_nll, config.length_alpha) for s in scores[i]]
        if priors is not None:
            values = [v - config.pmi_lambda * option_score(p, config.use_mean_nll, config.length_alpha)
                      for v, p in zip(values, priors[i])]
        by_chars = [s.logprob / max(len(choice), 1) for s, choice in zip(scores[i], ex.choices)]
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


def _run_qa(model, tokenizer, spec, lang, docs, config: EvalConfig, max_length: int):
    examples = [spec.build(doc, lang, config.prompt_format, config.template) for doc in docs]
    prompts = []
    for i, ex in enumerate(examples):
        shots = fewshot_shots(examples, i, config.num_fewshot)
        solved = "".join(f"{shot.prompt} {shot.answers[0]}\n\n" for shot in shots)
        prompts.append(tokenizer.encode(solved + ex.prompt, add_special_tokens=False))
    generator = GreedyGenerator(model, tokenizer, max_length, config.batch_size, config.max_new_tokens,
                                progress=config.progress)
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


def _run_retrieval(model, tokenizer, spec, lang, docs, config: EvalConfig, max_length: int):
    pairs = [spec.build(doc, lang, config.prompt_format, config.template) for doc in docs]
    src = embed_sentences(model, tokenizer, [s for s, _ in pairs], max_length, config.batch_size, config.progress)
    tgt = embed_sentences(model, tokenizer, [t for _, t in pairs], max_length, config.batch_size, config.progress)
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
