"""Task data -> prompts in both formats, and the errors bad task data gets."""
import json

import pytest

from langadapt.errors import LangAdaptError
from langadapt.evaluation.tasks import get_task
from langadapt.evaluation.tasks.base import as_letter_example, with_fewshot
from langadapt.evaluation.tasks.loading import load_task_documents

XCOPA_DOC = {"premise": "Mtoto alilia.", "choice1": "Alianguka chini.", "choice2": "Alipewa zawadi.",
             "question": "cause", "label": 0, "idx": 7}
BELEBELE_DOC = {"flores_passage": "Soko hufunguliwa mapema.", "question": " Soko hufunguliwa lini? ",
                "mc_answer1": "Usiku", "mc_answer2": "Asubuhi", "mc_answer3": "Jioni", "mc_answer4": "Kamwe",
                "correct_answer_num": "2", "dialect": "swh_Latn", "question_number": 1}


def test_xcopa_harness_prompt_drops_the_period_and_adds_the_connector():
    ex = get_task("xcopa").build(XCOPA_DOC, "sw", "harness", None)
    assert ex.context == "Mtoto alilia kwa sababu"
    assert ex.choices == [" alianguka chini.", " alipewa zawadi."]
    assert ex.label == 0 and ex.id == "7"


# Expected strings below are written out by hand from the originals' code: the sense-adaptation
# repository's run_eval.py (iter_xcopa / iter_xstory / iter_belebele) and COMMIT's harness fork
# (lm_eval/tasks/opengptx/xquad.py and mlqa.py, doc_to_text and the label class attributes).
SPACED_XCOPA = {"premise": "  Mtoto alilia. ", "choice1": " Alianguka chini.\n", "choice2": "Alipewa zawadi. ",
                "question": "effect", "label": 1, "idx": 3}


def test_xcopa_original_prompt_is_premise_newline_option_stripped():
    ex = get_task("xcopa").build(SPACED_XCOPA, "sw", "original", None)
    assert ex.pieces == [("Mtoto alilia.\nAlianguka chini.",), ("Mtoto alilia.\nAlipewa zawadi.",)]
    assert ex.choices == ["Alianguka chini.", "Alipewa zawadi."]  # what is scored: the option alone


def test_template_holds_the_hypothesis_anywhere():
    spec = get_task("xcopa")
    ex = spec.build(SPACED_XCOPA, "sw", "original", "Jibu: {hypothesis} ({premise})")
    assert ex.pieces == [("Jibu: Alianguka chini. (Mtoto alilia.)",), ("Jibu: Alipewa zawadi. (Mtoto alilia.)",)]
    assert ex.choices == ["Alianguka chini.", "Alipewa zawadi."]
    harness = spec.build(XCOPA_DOC, "sw", "harness", "{premise} {connector}: {hypothesis} mwisho")
    assert (harness.context, harness.pieces) == ("Mtoto alilia. kwa sababu: ", None)
    with pytest.raises(LangAdaptError, match="unknown field"):
        spec.build(XCOPA_DOC, "sw", "original", "{nothing} {hypothesis}")
    with pytest.raises(LangAdaptError, match="must contain"):
        spec.build(XCOPA_DOC, "sw", "original", "{premise}")


def test_belebele_formats_and_letter_mode():
    spec = get_task("belebele")
    harness = spec.build(BELEBELE_DOC, "swh_Latn", "harness", None)
    assert harness.context == ("P: Soko hufunguliwa mapema.\nQ: Soko hufunguliwa lini?\nA: Usiku\nB: Asubuhi\n"
                               "C: Jioni\nD: Kamwe\nAnswer:")
    assert harness.choices == [" A", " B", " C", " D"] and harness.label == 1
    assert harness.norm_lengths() == [1, 1, 1, 1]  # lm-eval: len("A"), without the joining space
    original = spec.build(BELEBELE_DOC, "swh_Latn", "original", None)
    # run_eval: ids(passage) + ids("\n") + ids("\n") + ids("Q: ") + ids(question) + ids("\nA: ") + ids(answer)
    assert original.pieces[1] == ("Soko hufunguliwa mapema.", "\n", "\n", "Q: ", "Soko hufunguliwa lini?", "\nA: ",
                                  "Asubuhi")
    assert original.choices == ["Usiku", "Asubuhi", "Jioni", "Kamwe"]
    letter = as_letter_example(original)
    assert letter.context.endswith("A. Usiku\nB. Asubuhi\nC. Jioni\nD. Kamwe\nAnswer:")
    assert letter.choices == [" A", " B", " C", " D"] and letter.label == 1


def test_fewshot_prepends_solved_examples():
    spec = get_task("xcopa")
    shot = spec.build(XCOPA_DOC, "sw", "harness", None)
    ex = with_fewshot(shot, [shot])
    assert ex.context == "Mtoto alilia kwa sababu alianguka chini.\n\nMtoto alilia kwa sababu"
    original = spec.build(XCOPA_DOC, "sw", "original", None)
    assert with_fewshot(original, [original]).pieces[1] == ("Mtoto alilia.\nAlianguka chini.\n\n",
                                                            "Mtoto alilia.\nAlipewa zawadi.")


def test_xstorycloze_prompts():
    story = {f"input_sentence_{i}": f" S{i}." for i in range(1, 5)}
    story.update(sentence_quiz1="E1. ", sentence_quiz2=" E2.", answer_right_ending=2)
    ex = get_task("xstorycloze").build(story, "sw", "harness", None)
    assert (ex.context, ex.choices, ex.label) == (" S1.  S2.  S3.  S4.", [" E1. ", "  E2."], 1)
    original = get_task("xstorycloze").build(story, "sw", "original", None)
    assert original.pieces == [("S1.  S2.  S3.  S4.\nE1.",), ("S1.  S2.  S3.  S4.\nE2.",)]
    assert get_task("xstorycloze").resolve_split("test") == "eval"  # run_eval maps test to eval


# COMMIT's fork, per language: background, question, answer labels (XQuADAr ... XQuADRo; MLQA the same).
FORK_LABELS = {
    "en": ("Background:", "Question:", "Answer:"), "ar": (":معرفتي", ":سؤال", ":إجابه"),
    "de": ("Hintergrund:", "Frage:", "Antwort:"), "zh": ("背景:", "問題:", "答案:"),
    "vi": ("lý lịch:", "câu hỏi:", "câu trả lời:"), "es": ("antecedentes:", "pregunta:", "respuesta:"),
    "hi": ("पृष्ठभूमि:", "सवाल:", "उत्तर:"), "el": ("Πληροφορίες ιστορικού:", "Ερώτηση:", "Απάντηση:"),
    "th": ("พื้นหลัง:", "คำถาม:", "ตอบ:"), "tr": ("arka fon:", "soru:", "Cevap:"),
    "ru": ("задний план:", "вопрос:", "отвечать:"), "ro": ("fundal:", "întrebare:", "Răspuns:"),
}
QA_DOC = {"id": "q1", "context": "C c.", "question": "Q q?", "answers": {"text": ["A"], "answer_start": [0]}}


# The fork joins the question label to the question with nothing in XQuAD, with a space in MLQA.
QA_CASES = [("xquad", "", lang) for lang in sorted(FORK_LABELS)] + \
    [("mlqa", " ", lang) for lang in ("ar", "de", "en", "es", "hi", "vi", "zh")]


@pytest.mark.parametrize("task, joiner, lang", QA_CASES)
def test_qa_prompt_is_the_forks_for_each_language_and_its_english_label_variant(task, joiner, lang):
    background, question, answer = FORK_LABELS[lang]
    ex = get_task(task).build(QA_DOC, lang, "original", None)
    assert ex.prompt == f"{background}\n\nC c.\n\n{question}{joiner}Q q?\n\n{answer}"
    english = get_task(task).build(QA_DOC, f"en{lang}", "original", None)
    assert english.prompt == f"Background:\n\nC c.\n\nQuestion:{joiner}Q q?\n\nAnswer:"


@pytest.mark.parametrize("lang", ["el", "th", "tr", "ru", "ro"])
def test_mlqa_has_only_its_own_languages(lang):
    get_task("xquad").check_lang(lang)
    with pytest.raises(LangAdaptError, match="supported"):
        get_task("mlqa").check_lang(lang)


def test_qa_generates_up_to_256_tokens_as_the_fork():
    from langadapt.evaluation.runner import generation_limit

    assert generation_limit(None, 2048) == 256
    assert generation_limit(None, 128) == 64  # a short model: half its context
    assert generation_limit(10, 2048) == 10


@pytest.mark.parametrize("doc, message", [
    ({**XCOPA_DOC, "label": 2}, "row 1: label 2 is outside the 2 options"),
    ({**XCOPA_DOC, "label": "x"}, "row 1: xcopa: field 'label' must be 0 or 1"),
])
def test_a_label_outside_the_options_is_an_error_naming_the_row(tmp_path, doc, message):
    from langadapt.evaluation.runner import EvalConfig, prepare_task

    path = write_jsonl(tmp_path / "x.jsonl", [XCOPA_DOC, doc])
    with pytest.raises(LangAdaptError, match=message):
        prepare_task(EvalConfig(task="xcopa", lang="sw", data_path=path))


def test_saved_hub_data_of_another_language_is_refused(tmp_path):
    from datasets import DatasetDict, Dataset

    data = Dataset.from_list([XCOPA_DOC])
    data.info.config_name = "sw"
    DatasetDict({"test": data}).save_to_disk(str(tmp_path / "xcopa_sw"))
    assert load_task_documents(get_task("xcopa"), "sw", data_path=str(tmp_path / "xcopa_sw"))
    with pytest.raises(LangAdaptError, match="holds xcopa config 'sw', but --lang asks for 'id'"):
        load_task_documents(get_task("xcopa"), "id", data_path=str(tmp_path / "xcopa_sw"))


@pytest.mark.parametrize("task, lang, message", [
    ("xcopa", "de", "supported: et, ht"), ("xquad", "sw", "supported: ar"), ("nope", "sw", "supported: xcopa")])
def test_unknown_task_or_language_lists_the_supported_ones(task, lang, message):
    with pytest.raises(LangAdaptError, match=message):
        get_task(task).check_lang(lang)


def test_language_codes_in_any_form():
    assert get_task("xcopa").check_lang("swh") == "sw"
    assert get_task("belebele").check_lang("sw") == "swh_Latn"
    assert get_task("xquad").check_lang("enhin") == "enhi"
    assert get_task("tatoeba_retrieval").config_for(get_task("tatoeba_retrieval").check_lang("sw")) == "eng-swa"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_local_file_missing_field_is_named(tmp_path):
    bad = dict(XCOPA_DOC)
    del bad["choice2"]
    with pytest.raises(LangAdaptError, match="choice2"):
        load_task_documents(get_task("xcopa"), "sw", "test", write_jsonl(tmp_path / "x.jsonl", [bad]))


def test_belebele_local_file_is_filtered_by_dialect(tmp_path):
    other = dict(BELEBELE_DOC, dialect="tur_Latn")
    path = write_jsonl(tmp_path / "b.jsonl", [BELEBELE_DOC, other, BELEBELE_DOC])
    assert len(load_task_documents(get_task("belebele"), "swh_Latn", "test", path)) == 2
    with pytest.raises(LangAdaptError, match="no rows with dialect == 'est_Latn'"):
        load_task_documents(get_task("belebele"), "est_Latn", "test", path)


def test_missing_split_and_limit(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "saved"
    DatasetDict({"validation": Dataset.from_list([XCOPA_DOC] * 3)}).save_to_disk(str(folder))
    with pytest.raises(LangAdaptError, match="no split 'test'; available: validation"):
        load_task_documents(get_task("xcopa"), "sw", "test", str(folder))
    assert len(load_task_documents(get_task("xcopa"), "sw", "validation", str(folder), limit=2)) == 2
    with pytest.raises(LangAdaptError, match="--split dev: xcopa has splits validation, test"):
        load_task_documents(get_task("xcopa"), "sw", "dev")


def test_squad_json_is_flattened():
    docs = load_task_documents(get_task("xquad"), "hi", None, "examples/data/eval/xquad_hi.json")
    assert len(docs) == 4 and docs[1]["answers"]["text"] == ["महाराष्ट्र", "महाराष्ट्र राज्य"]
