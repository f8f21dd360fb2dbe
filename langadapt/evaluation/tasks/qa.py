"""XQuAD (google/xquad) and MLQA (facebook/mlqa): extractive QA answered by greedy generation.

The prompt is COMMIT's: background, question and answer labels in the language of the data, or the
English labels with `--lang en{lang}` (e.g. `enhi`), as the `ogx_xquad_en{lang}` tasks do. How an answer
ends is the fork's model class's (`FORK_MODELS`): the COMMIT README evaluates with hf-causal-experimental.
"""
from __future__ import annotations

from ...errors import LangAdaptError
from .base import QAExample, TaskSpec, language_checker

# The OpenGPT-X harness fork's labels (COMMIT's ogx_xquad_* / ogx_mlqa_* tasks): background, question, answer.
# Its MLQA tasks use the same strings for the languages they have.
LABELS = {
    "en": ("Background:", "Question:", "Answer:"),
    "ar": (":معرفتي", ":سؤال", ":إجابه"),
    "de": ("Hintergrund:", "Frage:", "Antwort:"),
    "zh": ("背景:", "問題:", "答案:"),
    "vi": ("lý lịch:", "câu hỏi:", "câu trả lời:"),
    "es": ("antecedentes:", "pregunta:", "respuesta:"),
    "hi": ("पृष्ठभूमि:", "सवाल:", "उत्तर:"),
    "el": ("Πληροφορίες ιστορικού:", "Ερώτηση:", "Απάντηση:"),
    "th": ("พื้นหลัง:", "คำถาม:", "ตอบ:"),
    "tr": ("arka fon:", "soru:", "Cevap:"),
    "ru": ("задний план:", "вопрос:", "отвечать:"),
    "ro": ("fundal:", "întrebare:", "Răspuns:"),
}
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
# The fork joins the question label to the question with nothing in XQuAD and with a space in MLQA.
QUESTION_JOINER = {"xquad": "", "mlqa": " "}
MAX_NEW_TOKENS = 256  # the fork's max_gen_toks; the text is cut at "\n"
# The fork's `--model` classes, each with its own greedy_until. hf-causal-experimental (the COMMIT README's)
# runs `model.generate`: the model's EOS ends an answer, special tokens are skipped. hf and hf-causal
# (gpt2.HFLM) pass the first token of "\n" as eos_token_id instead: EOS does not end the answer and stays in
# it as text, and that first token (on a LLaMA sentencepiece tokenizer the plain "▁") ends it, kept.
FORK_MODELS = ("hf-causal-experimental", "hf-causal", "hf")


def split_lang(lang: str) -> tuple[str, str]:
    """("hi", "hi") for `hi`; ("hi", "en") for `enhi`: (data language, label language)."""
    if len(lang) == 4 and lang.startswith("en"):
        return lang[2:], "en"
    return lang, lang


def _checker(task: str, languages: tuple[str, ...]):
    plain = language_checker(task, {code: code for code in languages},
                             hint=" (prefix 'en' for English field labels, e.g. enhi)")

    def check(code: str) -> str:
        english_labels = len(code) > 3 and code.lower().startswith("en") and not code.lower().startswith("eng")
        lang = plain(code[2:] if english_labels else code)
        return f"en{lang}" if english_labels and lang != "en" else lang

    return check


def prompt_of(task: str, doc: dict, lang: str) -> str:
    """The fork's doc_to_text: labels of the language (English ones for en{lang}), its spacing per task."""
    background, question, answer = LABELS[split_lang(lang)[1]]
    joiner = QUESTION_JOINER[task]
    return f"{background}\n\n{doc['context']}\n\n{question}{joiner}{doc['question']}\n\n{answer}"


def builder(task: str):
    return lambda doc, lang, prompt_format, template: build(task, doc, lang)


def build(task: str, doc: dict, lang: str) -> QAExample:
    prompt = prompt_of(task, doc, lang)
    answers = doc["answers"]
    texts = list(answers["text"]) if isinstance(answers, dict) else [a["text"] for a in answers]
    if not texts:
        raise LangAdaptError(f"question {doc.get('id')!r} has no gold answer in field 'answers'")
    return QAExample(str(doc.get("id", "")), prompt, texts, doc["question"])


COLUMNS = ("context", "question", "answers")
XQUAD = TaskSpec(
    name="xquad", kind="qa", hub_path="google/xquad", columns=COLUMNS, splits=("validation",),
    default_split="validation", supported=", ".join(XQUAD_LANGUAGES), check_lang=_checker("xquad", XQUAD_LANGUAGES),
    config_for=lambda lang: f"xquad.{split_lang(lang)[0]}", build=builder("xquad"), extra={"normalisation": "squad"})
MLQA = TaskSpec(
    name="mlqa", kind="qa", hub_path="facebook/mlqa", columns=COLUMNS, splits=("test", "validation"),
    default_split="test", supported=", ".join(MLQA_LANGUAGES), check_lang=_checker("mlqa", MLQA_LANGUAGES),
    config_for=lambda lang: f"mlqa.{split_lang(lang)[0]}.{split_lang(lang)[0]}", build=builder("mlqa"),
    extra={"normalisation": "mlqa"})
