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


# The 204 file names of flores200_dataset/ (FLORES-200's README table), Santali as sat_Olck.
FLORES200_TAGS = """
    ace_Arab ace_Latn acm_Arab acq_Arab aeb_Arab afr_Latn ajp_Arab aka_Latn als_Latn amh_Ethi apc_Arab arb_Arab
    arb_Latn ars_Arab ary_Arab arz_Arab asm_Beng ast_Latn awa_Deva ayr_Latn azb_Arab azj_Latn bak_Cyrl bam_Latn
    ban_Latn bel_Cyrl bem_Latn ben_Beng bho_Deva bjn_Arab bjn_Latn bod_Tibt bos_Latn bug_Latn bul_Cyrl cat_Latn
    ceb_Latn ces_Latn cjk_Latn ckb_Arab crh_Latn cym_Latn dan_Latn deu_Latn dik_Latn dyu_Latn dzo_Tibt ell_Grek
    eng_Latn epo_Latn est_Latn eus_Latn ewe_Latn fao_Latn fij_Latn fin_Latn fon_Latn fra_Latn fur_Latn fuv_Latn
    gaz_Latn gla_Latn gle_Latn glg_Latn grn_Latn guj_Gujr hat_Latn hau_Latn heb_Hebr hin_Deva hne_Deva hrv_Latn
    hun_Latn hye_Armn ibo_Latn ilo_Latn ind_Latn isl_Latn ita_Latn jav_Latn jpn_Jpan kab_Latn kac_Latn kam_Latn
    kan_Knda kas_Arab kas_Deva kat_Geor kaz_Cyrl kbp_Latn kea_Latn khk_Cyrl khm_Khmr kik_Latn kin_Latn kir_Cyrl
    kmb_Latn kmr_Latn knc_Arab knc_Latn kon_Latn kor_Hang lao_Laoo lij_Latn lim_Latn lin_Latn lit_Latn lmo_Latn
    ltg_Latn ltz_Latn lua_Latn lug_Latn luo_Latn lus_Latn lvs_Latn mag_Deva mai_Deva mal_Mlym mar_Deva min_Arab
    min_Latn mkd_Cyrl mlt_Latn mni_Beng mos_Latn mri_Latn mya_Mymr nld_Latn nno_Latn nob_Latn npi_Deva nso_Latn
    nus_Latn nya_Latn oci_Latn ory_Orya pag_Latn pan_Guru pap_Latn pbt_Arab pes_Arab plt_Latn pol_Latn por_Latn
    prs_Arab quy_Latn ron_Latn run_Latn rus_Cyrl sag_Latn san_Deva sat_Olck scn_Latn shn_Mymr sin_Sinh slk_Latn
    slv_Latn smo_Latn sna_Latn snd_Arab som_Latn sot_Latn spa_Latn srd_Latn srp_Cyrl ssw_Latn sun_Latn swe_Latn
    swh_Latn szl_Latn tam_Taml taq_Latn taq_Tfng tat_Cyrl tel_Telu tgk_Cyrl tgl_Latn tha_Thai tir_Ethi tpi_Latn
    tsn_Latn tso_Latn tuk_Latn tum_Latn tur_Latn twi_Latn tzm_Tfng uig_Arab ukr_Cyrl umb_Latn urd_Arab uzn_Latn
    vec_Latn vie_Latn war_Latn wol_Latn xho_Latn ydd_Hebr yor_Latn yue_Hant zho_Hans zho_Hant zsm_Latn zul_Latn
""".split()


def test_the_table_holds_exactly_the_datasets_tags():
    assert len(FLORES200_TAGS) == 204
    assert set(known_codes()) - {"fry_Latn", "lat_Latn", "sco_Latn"} == set(FLORES200_TAGS)
    assert flores_tag("sat") == flores_tag("sat_olck") == "sat_Olck"


@pytest.mark.parametrize("code, suggestion", [("eng_Latm", "eng_Latn"), ("sw_KE", "swh_Latn"),
                                              ("kas_Latn", "kas_Arab or kas_Deva")])
def test_typod_or_region_tags_are_refused_with_the_languages_tags(code, suggestion):
    with pytest.raises(LangAdaptError, match=f"^--lang {code}: not a FLORES-200 tag; did you mean {suggestion}\\?$"):
        get_language(code, "--lang")


def test_a_region_tag_is_a_one_line_error_before_data_load(tiny_gpt2_dir):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "run_flores_ppl.py", "--model_path", tiny_gpt2_dir, "--lang", "sw_KE",
                           "--dataset", "examples/data/eval/flores"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --lang sw_KE: not a FLORES-200 tag; did you mean swh_Latn?"
