"""What a task is, as data: where its documents live and how a document becomes a prompt.

A multiple-choice family gives, per document, its named fields, bare options and gold index, plus the
two prompt formats: `original` (the sense-adaptation code's prompts) and `harness` (lm-evaluation-harness
0.4's, for numbers comparable with papers that used it). `--template` overrides both.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Callable, Optional

from ...errors import LangAdaptError

LETTERS = "ABCDEFGHIJ"


@dataclass
class ChoiceExample:
    id: str
    context: str  # prompt text before the option
    choices: list[str]  # continuations as scored, delimiter included
    label: int
    stem: str  # the question without options, for the letter format
    options: list[str]  # bare option texts, for the letter format


@dataclass
class QAExample:
    id: str
    prompt: str
    answers: list[str]
    question: str


@dataclass(frozen=True)
class TaskSpec:
    """One task family. `config_for(lang)` names the hub config, `check_lang` canonicalises the code."""
    name: str
    kind: str  # "choice" | "qa" | "retrieval"
    hub_path: str
    columns: tuple[str, ...]
    splits: tuple[str, ...]
    default_split: str
    supported: str  # human-readable list of accepted languages, for error messages
    check_lang: Callable[[str], str]
    config_for: Callable[[str], Optional[str]]
    build: Callable  # (doc, lang, prompt_format, template) -> example
    filter_column: Optional[str] = None  # local files holding many languages: keep rows whose column == config
    extra: dict = field(default_factory=dict)


def template_example(template: str, fields: dict, options: list[str]) -> tuple[str, list[str]]:
    """(context, choices) from a `--template` ending in `{hypothesis}` (the option)."""
    if not template.endswith("{hypothesis}"):
        raise LangAdaptError("--template must end with {hypothesis} (the option being scored), e.g. "
                             "'{premise}\\n{hypothesis}'")
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = names - set(fields) - {"hypothesis"}
    if unknown:
        raise LangAdaptError(f"--template uses unknown field(s) {', '.join(sorted(unknown))}; available: "
                             f"{', '.join(sorted(fields))}, hypothesis")
    context = template[: -len("{hypothesis}")].format(**fields)
    return context, list(options)


def make_choice_example(doc_id: str, fields: dict, options: list[str], label: int, prompt_format: str,
                        template: Optional[str], original: Callable, harness: Callable,
                        stem: Callable) -> ChoiceExample:
    if template:
        context, choices = template_example(template, fields, options)
    elif prompt_format == "harness":
        context, choices = harness(fields, options)
    elif prompt_format == "original":
        context, choices = original(fields, options)
    else:
        raise LangAdaptError(f"--prompt_format: unknown format {prompt_format!r}; expected original or harness")
    return ChoiceExample(doc_id, context, choices, label, stem(fields), list(options))


def as_letter_example(example: ChoiceExample) -> ChoiceExample:
    """Options labelled A/B/..., the prompt ending in "Answer:", each choice the letter after a space."""
    letters = LETTERS[: len(example.options)]
    listing = "\n".join(f"{letter}. {option}" for letter, option in zip(letters, example.options))
    context = f"{example.stem}\n{listing}\nAnswer:"
    return ChoiceExample(example.id, context, [f" {letter}" for letter in letters], example.label,
                         example.stem, example.options)


def with_fewshot(example: ChoiceExample, shots: list[ChoiceExample]) -> ChoiceExample:
    """Prepend solved examples, separated by blank lines (the harness's few-shot layout)."""
    if not shots:
        return example
    solved = "".join(f"{shot.context}{shot.choices[shot.label]}\n\n" for shot in shots)
    return ChoiceExample(example.id, solved + example.context, example.choices, example.label,
                         example.stem, example.options)


def language_checker(task: str, codes: dict[str, str], hint: str = "") -> Callable[[str], str]:
    """A `check_lang` that accepts any code form of the listed languages (iso1 -> dataset code)."""
    from ...languages import get_language

    def check(code: str) -> str:
        try:
            iso1 = get_language(code).iso1
        except LangAdaptError:
            iso1 = code.lower()
        if iso1 not in codes:
            raise LangAdaptError(f"--lang {code}: {task} has no such language; supported: "
                                 f"{', '.join(sorted(codes))}{hint}")
        return codes[iso1]

    return check
