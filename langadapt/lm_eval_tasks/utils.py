"""Prompt and metric functions for the task YAMLs beside this file (lm-evaluation-harness 0.4).

They are `run_eval.py`'s own, so each task builds the prompts and metrics `run_eval.py` builds: the
harness fork's XQuAD/MLQA prompts and EM/F1 (ogx_*), and the sense-adaptation code's original-format
XCOPA / XStoryCloze / Belebele (sensia_*), each option scored after the context.
"""
from functools import partial

from langadapt.evaluation.fork_cli import FORK_TASKS
from langadapt.evaluation.metrics import exact_match_and_f1, normalizer_for
from langadapt.evaluation.tasks import belebele, xcopa, xstorycloze
from langadapt.evaluation.tasks.qa import prompt_of, split_lang


def _qa_results(task: str, lang: str, doc: dict, results: list) -> dict:
    """Per-question EM and F1 (x100): their means are the fork's corpus figures."""
    normalize = normalizer_for("squad" if task == "xquad" else "mlqa", split_lang(lang)[0])
    em, f1 = exact_match_and_f1(results[0].strip(), list(doc["answers"]["text"]), normalize)
    return {"exact_match": 100 * em, "f1": 100 * f1}


def _original(module, lang: str, doc: dict):
    """run_eval's `--prompt_format original` example: a context ending in "\\n" or " ", the bare options."""
    return module.build(doc, lang, "original", None)


def _register(key: str, module, lang: str) -> None:
    example = partial(_original, module, lang)
    globals()[f"doc_to_text_{key}"] = lambda doc: example(doc).context
    globals()[f"doc_to_choice_{key}"] = lambda doc: list(example(doc).choices)
    globals()[f"doc_to_target_{key}"] = lambda doc: example(doc).label


for _name, (_task, _lang, _split) in FORK_TASKS.items():
    globals()[f"doc_to_text_{_name}"] = partial(prompt_of, _task, lang=_lang)
    globals()[f"process_results_{_name}"] = partial(_qa_results, _task, _lang)
for _lang in xcopa.CONNECTORS:  # the language only picks connector words, which the original format omits
    _register(f"sensia_xcopa_{_lang}", xcopa, _lang)
_register("sensia_xstorycloze", xstorycloze, "en")  # no language-dependent text
_register("sensia_belebele", belebele, "eng_Latn")
