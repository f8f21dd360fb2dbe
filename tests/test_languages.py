"""Every FLORES-200 language in every code form, and each data source's code derived from the one table."""
import json

import pytest

import run_eval
import run_flores_ppl
from langadapt.errors import LangAdaptError
from langadapt.evaluation.flores import load_flores_sentences
from langadapt.evaluation.tasks import belebele, tatoeba, xcopa
from langadapt.languages import flores_tag, get_language, known_codes
from langadapt.sense_adaptation.data import load_flores_pairs

# A sample of the original's tables: sensia utils/data.py FLORES_CODE_MAP (evaluation, run_adaptation) ...
ORIGINAL_FLORES = {"afr": "afr_Latn", "ara": "arb_Arab", "fas": "pes_Arab", "msa": "zsm_Latn", "nep": "npi_Deva",
                   "ori": "ory_Orya", "pus": "pbt_Arab", "uzb": "uzn_Latn", "zho": "zho_Hans",
                   "zho_trad": "zho_Hant", "ast": "ast_Latn", "ckb": "ckb_Arab", "fry": "fry_Latn"}
# ... and build_opus_corpus.py THREE_TO_TWO (OPUS and langid codes).
ORIGINAL_TWO_LETTER = {"acm": "ar", "azb": "az", "ckb": "ku", "gaz": "om", "nob": "nb", "ydd": "yi", "lvs": "lv",
                       "prs": "fa", "kin": "rw", "afr": "af", "zsm": "ms", "eng": "en"}


def test_all_204_flores_tags_and_both_scripts_of_a_language():
    tags = known_codes()
    assert len([t for t in tags if t not in ("fry_Latn", "lat_Latn", "sco_Latn")]) == 204
    assert all(get_language(tag).flores == tag for tag in tags)
    assert get_language("ace_Arab") is not get_language("ace_Latn")
    assert (flores_tag("ace"), flores_tag("kas"), flores_tag("arb"), flores_tag("taq")) == \
        ("ace_Latn", "kas_Arab", "arb_Arab", "taq_Latn")


@pytest.mark.parametrize("code, tag", sorted(ORIGINAL_FLORES.items()))
def test_the_original_evaluation_codes(code, tag):
    assert flores_tag(code) == tag


@pytest.mark.parametrize("iso3, iso1", sorted(ORIGINAL_TWO_LETTER.items()))
def test_the_original_two_letter_codes_for_opus_and_langid(iso3, iso1):
    lang = get_language(iso3)
    assert lang.opus == lang.langid == iso1


@pytest.mark.parametrize("code, tag, plus", [
    ("afr", "afr_Latn", "afr_Latn"), ("afr_Latn", "afr_Latn", "afr_Latn"), ("zho_trad", "zho_Hant", "cmn_Hant"),
    ("ekk", "est_Latn", "ekk_Latn"), ("swa", "swh_Latn", "swh_Latn"), ("sw", "swh_Latn", "swh_Latn"),
    ("ar", "arb_Arab", "arb_Arab"), ("fa", "pes_Arab", "pes_Arab"), ("lav", "lvs_Latn", "lvs_Latn"),
    ("ger", "deu_Latn", "deu_Latn"), ("ZH-TW", "zho_Hant", "cmn_Hant"), ("cmn_Hans", "zho_Hans", "cmn_Hans")])
def test_every_code_form_maps_to_the_flores_tag(code, tag, plus):
    assert flores_tag(code) == tag and flores_tag(code, "flores_plus") == plus


def test_languages_without_a_two_letter_code_use_iso3_for_opus():
    ace = get_language("ace_Latn")
    assert ace.iso1 is None and ace.opus == "ace"


def test_unknown_codes_name_the_closest_matches():
    with pytest.raises(LangAdaptError, match=r"unknown language code 'afrr'; closest matches: .*afr"):
        get_language("afrr")


def test_dataset_codes_come_from_the_table():
    assert [tatoeba.TASK.check_lang(c) for c in ("swa", "swh_Latn", "sw", "ar", "ekk", "afr")] == \
        ["swa", "swa", "swa", "ara", "est", "afr"]
    assert [xcopa.TASK.check_lang(c) for c in ("ekk", "swa", "zho_trad", "qu")] == ["et", "sw", "zh", "qu"]
    assert [belebele.TASK.check_lang(c) for c in ("afr", "zho_trad", "ekk")] == ["afr_Latn", "zho_Hant", "est_Latn"]


# Dev sentence counts differ per language and each language has its own words, so a test sees which file
# was read (devtest sides have equal counts: validation pairs must align).
FILES = {"eng_Latn": 5, "afr_Latn": 3, "zho_Hant": 4, "est_Latn": 6, "swh_Latn": 2, "zho_Hans": 7}
WORDS = {"eng_Latn": "The house", "afr_Latn": "Die huis", "zho_Hant": "房子", "zho_Hans": "房子们",
         "est_Latn": "Maja", "swh_Latn": "Nyumba"}
CODES = [("afr", "afr_Latn"), ("afr_Latn", "afr_Latn"), ("zho_trad", "zho_Hant"), ("ekk", "est_Latn"),
         ("swa", "swh_Latn")]


@pytest.fixture(scope="module")
def flores_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flores200_dataset")
    for split in ("dev", "devtest"):
        (folder / split).mkdir()
        for tag, count in FILES.items():
            lines = "".join(f"{WORDS[tag]} {split} {i}.\n" for i in range(count if split == "dev" else 3))
            (folder / split / f"{tag}.{split}").write_text(lines, encoding="utf-8")
    return folder


@pytest.mark.parametrize("code, tag", CODES)
def test_run_adaptation_validation_pairs(flores_dir, code, tag):
    sources, targets = load_flores_pairs("eng", code, "devtest", validation_file=str(flores_dir))
    assert sources[0] == "The house devtest 0." and targets[0] == f"{WORDS[tag]} devtest 0."


def test_flores_plus_files_by_the_renamed_tags(tmp_path):
    from datasets import Dataset

    rows = [{"iso_639_3": "ekk", "iso_15924": "Latn", "text": "Maja."},
            {"iso_639_3": "cmn", "iso_15924": "Hant", "text": "房子。"},
            {"iso_639_3": "cmn", "iso_15924": "Hans", "text": "房子们。"}]
    Dataset.from_list(rows).to_parquet(str(tmp_path / "flores_plus.parquet"))
    source = str(tmp_path / "flores_plus.parquet")
    assert load_flores_sentences(source, "ekk", "devtest") == ["Maja."]
    assert load_flores_sentences(source, "zho_trad", "devtest") == ["房子。"]


@pytest.mark.parametrize("code, tag", CODES)
def test_run_flores_ppl_languages(tmp_path, tiny_gpt2_dir, flores_dir, code, tag):
    out = tmp_path / "ppl.json"
    assert run_flores_ppl.main(["--model_path", tiny_gpt2_dir, "--lang", code, "--split", "dev", "--device", "cpu",
                                "--dataset", str(flores_dir), "--output_file", str(out), "--log_level", "WARNING"]) == 0
    results = json.loads(out.read_text())
    assert results["lang"] == tag and results["sentences"] == FILES[tag]


@pytest.mark.parametrize("code, tag", CODES)
def test_run_eval_languages(tmp_path, tiny_gpt2_dir, code, tag):
    rows = [{"flores_passage": f"{WORDS[dialect]}.", "question": "?", "mc_answer1": "a", "mc_answer2": "b",
             "mc_answer3": "c", "mc_answer4": "d", "correct_answer_num": "1", "dialect": dialect,
             "question_number": i} for i, dialect in enumerate(FILES) for _ in range(1 + i)]
    data = tmp_path / "belebele.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "r.json"
    assert run_eval.main(["--model_path", tiny_gpt2_dir, "--task", "belebele", "--lang", code, "--data_path",
                          str(data), "--output_file", str(out), "--log_level", "WARNING"]) == 0
    assert json.loads(out.read_text())["n_examples"] == 1 + list(FILES).index(tag)
