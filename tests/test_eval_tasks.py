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


def test_xcopa_original_prompt_and_template():
    spec = get_task("xcopa")
    ex = spec.build(XCOPA_DOC, "sw", "original", None)
    assert (ex.context, ex.choices) == ("Mtoto alilia.\n", ["Alianguka chini.", "Alipewa zawadi."])
    ex = spec.build(XCOPA_DOC, "sw", "original", "{premise} {connector}: {hypothesis}")
    assert ex.context == "Mtoto alilia. kwa sababu: "
    with pytest.raises(LangAdaptError, match="unknown field"):
        spec.build(XCOPA_DOC, "sw", "original", "{nothing} {hypothesis}")
    with pytest.raises(LangAdaptError, match="must end with"):
        spec.build(XCOPA_DOC, "sw", "original", "{hypothesis} {premise}")


def test_belebele_formats_and_letter_mode():
    spec = get_task("belebele")
    harness = spec.build(BELEBELE_DOC, "swh_Latn", "harness", None)
    assert harness.context == ("P: Soko hufunguliwa mapema.\nQ: Soko hufunguliwa lini?\nA: Usiku\nB: Asubuhi\n"
                               "C: Jioni\nD: Kamwe\nAnswer:")
    assert harness.choices == [" A", " B", " C", " D"] and harness.label == 1
    original = spec.build(BELEBELE_DOC, "swh_Latn", "original", None)
    assert original.context == "Soko hufunguliwa mapema.\nQ: Soko hufunguliwa lini?\nA:"
    letter = as_letter_example(original)
    assert letter.context.endswith("A. Usiku\nB. Asubuhi\nC. Jioni\nD. Kamwe\nAnswer:")
    assert letter.choices == [" A", " B", " C", " D"] and letter.label == 1


def test_fewshot_prepends_solved_examples():
    spec = get_task("xcopa")
    shot = spec.build(XCOPA_DOC, "sw", "harness", None)
    ex = with_fewshot(shot, [shot])
    assert ex.context == "Mtoto alilia kwa sababu alianguka chini.\n\nMtoto alilia kwa sababu"


def test_xstorycloze_and_qa_prompts():
    story = {f"input_sentence_{i}": f"S{i}." for i in range(1, 5)}
    story.update(sentence_quiz1="E1.", sentence_quiz2="E2.", answer_right_ending=2)
    ex = get_task("xstorycloze").build(story, "sw", "harness", None)
    assert (ex.context, ex.choices, ex.label) == ("S1. S2. S3. S4.", [" E1.", " E2."], 1)
    doc = {"id": "q1", "context": "C.", "question": "Q?", "answers": {"text": ["A"], "answer_start": [0]}}
    assert get_task("xquad").build(doc, "hi", "original", None).prompt == "पृष्ठभूमि:\n\nC.\n\nसवाल: Q?\n\nउत्तर:"
    assert get_task("xquad").build(doc, "enhi", "original", None).prompt == \
        "Background:\n\nC.\n\nQuestion: Q?\n\nAnswer:"


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
