"""What a task is, as data: where its documents live and how a document becomes a prompt.

A multiple-choice family gives, per document, its named fields, bare options and gold index, plus the
two prompt formats: `original` (the sense-adaptation code's run_eval prompts: per option, the pieces it
tokenises one by one and the option text it scores) and `harness` (lm-evaluation-harness 0.4's: one
context string and the continuations after it). `--template` replaces the prompt in either format.
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
    pieces: Optional[list[tuple[str, ...]]] = None  # original format: per option, the pieces tokenised alone

    def norm_lengths(self) -> list[int]:
        """Characters of each option as `acc_norm` counts them: without the space that joins it to the prompt."""
        return [max(len(choice[1:] if choice.startswith(" ") else choice), 1) for choice in self.choices]


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
    split_aliases: dict = field(default_factory=dict)  # split names the original accepts for another split
    extra: dict = field(default_factory=dict)

    def resolve_split(self, split: Optional[str]) -> str:
        return self.split_aliases.get(split, split) if split else self.default_split


def template_example(template: str, fields: dict, options: list[str], prompt_format: str):
    """(context, choices, pieces) from a `--template` holding `{hypothesis}` (the option) anywhere.

    original: the whole filled template is tokenised and the option's tokens are found in it, as the
    original does; harness: the text before the first `{hypothesis}` is the context (a causal model's
    score of the option does not depend on what follows it).
    """
    if "{hypothesis}" not in template:
        raise LangAdaptError("--template must contain {hypothesis} (the option being scored), e.g. "
                             "'{premise}\\n{hypothesis}'")
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = names - set(fields) - {"hypothesis"}
    if unknown:
        raise LangAdaptError(f"--template uses unknown field(s) {', '.join(sorted(unknown))}; available: "
                             f"{', '.join(sorted(fields))}, hypothesis")
    if prompt_format == "original":  # the original strips the fields and the options
        fields = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
        options = [opt.strip() for opt in options]
    context = template[: template.index("{hypothesis}")].format(**fields)
    if prompt_format == "original":
        return context, options, [(template.format(**fields, hypothesis=opt),) for opt in options]
    return context, list(options), None


def make_choice_example(doc_id: str, fields: dict, options: list[str], label: int, prompt_format: str,
                        template: Optional[str], original: Callable, harness: Callable,
                        stem: Callable) -> ChoiceExample:
    """`original(fields, options)` -> (context shown, option texts, pieces); `harness` -> (context, choices)."""
    if not 0 <= label < len(options):
        raise LangAdaptError(f"label {label} is outside the {len(options)} options")
    pieces = None
    if prompt_format not in ("original", "harness"):
        raise LangAdaptError(f"--prompt_format: unknown format {prompt_format!r}; expected original or harness")
    if template:
        context, choices, pieces = template_example(template, fields, options, prompt_format)
    elif prompt_format == "harness":
        context, choices = harness(fields, options)
    else:
        context, choices, pieces = original(fields, options)
    return ChoiceExample(doc_id, context, choices, label, stem(fields), list(options), pieces)


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
    solved = "".join(solved_text(shot) + "\n\n" for shot in shots)
    pieces = None if example.pieces is None else [(solved, *option) for option in example.pieces]
    return ChoiceExample(example.id, solved + example.context, example.choices, example.label,
                         example.stem, example.options, pieces)


def solved_text(shot: ChoiceExample) -> str:
    if shot.pieces is not None:
        return "".join(shot.pieces[shot.label])
    return shot.context + shot.choices[shot.label]


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
