"""Code-mixing and MUSE dictionaries, against what EasyLM's TextProcessor does with the same input."""
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from langadapt.commit.codemix import (ALPACA_PROMPT_INPUT, ALPACA_PROMPT_NO_INPUT, CodeMixer, MuseDictionary,
                                      alpaca_source_and_target, example_rng, load_muse_dictionary)
from langadapt.errors import LangAdaptError

EASYLM = json.loads((Path(__file__).parent / "fixtures" / "easylm_textprocessor.json").read_text())


def mixer_of(table, ratio):
    return CodeMixer(MuseDictionary(table, "test"), ratio)


def dictionary_file(tmp_path, content: bytes, name="en-hi.txt"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_word_edges_and_spacing_as_easylm():
    """EasyLM's output at ratio 1: NBSP and U+3000 are edges; U+000B, U+001C, U+0085, U+2028/9 are not."""
    table = dict(line.split("\t") for line in EASYLM["mix_dictionary"].splitlines())
    mixer = mixer_of({word: [translation] for word, translation in table.items()}, 1.0)
    for text, expected in EASYLM["codemix"].items():
        assert mixer.mix(text, example_rng(0, 0, 0)) == expected


def test_duplicate_lines_weight_the_translations_as_easylm(tmp_path):
    path = dictionary_file(tmp_path, EASYLM["dictionary_lines"].encode())
    dictionary = load_muse_dictionary(path)
    assert dictionary.translations == EASYLM["dictionary"]  # {"word": ["na", "na", "pia"], ...}
    mixer, rng = CodeMixer(dictionary, 1.0), random.Random(0)
    counts = Counter(mixer.mix("word", rng) for _ in range(6000))
    assert abs(counts["na"] / 6000 - 2 / 3) < 0.02 and counts["na"] + counts["pia"] == 6000


@pytest.mark.parametrize("content, message", [
    (b"house\tghar\nbad\t\xe9t\xe9\n", r"en-hi.txt:2: not UTF-8 \(byte 0xe9 at column 5\)"),
    (b"\xef\xbb\xbfhouse\tghar\n", "en-hi.txt:1: starts with a UTF-8 byte-order mark"),
    (b"house\tghar\none two three\n", "en-hi.txt:2: expected"),
    (b"\n\n", "holds no word pairs"),
])
def test_bad_dictionary_names_file_and_line(tmp_path, content, message):
    with pytest.raises(LangAdaptError, match=message):
        load_muse_dictionary(dictionary_file(tmp_path, content))


def test_tab_or_space_separated_blank_lines_skipped_and_direction_from_name(tmp_path):
    dictionary = load_muse_dictionary(dictionary_file(tmp_path, "house\tघर\n\nhouse मकान\n".encode(), "hi-en.txt"))
    assert dictionary.translations == {"house": ["घर", "मकान"]} and dictionary.direction == ("hi", "en")


def test_missing_dictionary_says_how_to_fetch(tmp_path):
    with pytest.raises(LangAdaptError, match="fetch_muse.py en-th"):
        load_muse_dictionary(tmp_path / "en-th.txt")


def test_ratio_zero_one_case_sensitivity_and_range():
    text = "House house, (house)."
    assert mixer_of({"house": ["घर"]}, 0.0).mix(text, random.Random(1)) == text
    assert mixer_of({"house": ["घर"]}, 1.0).mix(text, random.Random(1)) == "House घर, (घर)."
    with pytest.raises(LangAdaptError, match="codemix_ratio"):
        mixer_of({}, 1.5)


def test_replacement_rate_is_the_ratio_and_stats_count_it():
    mixer = mixer_of({"a": ["x"]}, 0.3)
    mixed = mixer.mix(" ".join(["a", "b"] * 5000), random.Random(2)).split(" ")
    assert abs(mixed.count("x") / 5000 - 0.3) < 0.03
    assert (mixer.stats.words, mixer.stats.in_dictionary, mixer.stats.replaced) == (10000, 5000, mixed.count("x"))


def test_example_streams_depend_on_seed_epoch_and_index_only():
    mixer = mixer_of({"a": ["x", "y", "z"]}, 0.5)
    text = " ".join(["a"] * 64)
    draws = {key: mixer.mix(text, example_rng(*key)) for key in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)]}
    assert len(set(draws.values())) == 4
    assert mixer.mix(text, example_rng(0, 0, 1)) == draws[(0, 0, 1)]


TEMPLATE_TABLE = {"Below": ["नीचे"], "instruction": ["निर्देश"], "task.": ["काम"], "task": ["काम"],
                  "Response": ["जवाब"], "water": ["पानी"], "Drink": ["पियो"]}


def test_template_untouched_when_blocked_and_ends_at_response_colon():
    record = {"instruction": "Drink water", "input": "", "output": "Drink water"}
    source, target = alpaca_source_and_target(record, mixer_of(TEMPLATE_TABLE, 1.0), random.Random(0), True)
    assert source == ALPACA_PROMPT_NO_INPUT.format(instruction="पियो पानी") and source.endswith("### Response:")
    assert target == "पियो पानी"


def test_template_mixed_when_not_blocked():
    record = {"instruction": "Drink water", "input": "a glass", "output": "Drink water"}
    source, target = alpaca_source_and_target(record, mixer_of(TEMPLATE_TABLE, 1.0), random.Random(0), False)
    # "Instruction:\nDrink" is one space-separated word, so only "water" of the instruction is mixed
    assert source.startswith("नीचे is an निर्देश that describes a काम") and "\nDrink पानी\n" in source
    assert source.endswith("### जवाब:") and target == "पियो पानी"


def test_unmixed_source_uses_the_input_template_and_bad_records_are_refused():
    record = {"instruction": "Add", "input": "2 and 3", "output": "5"}
    assert alpaca_source_and_target(record, None, None, True) == (
        ALPACA_PROMPT_INPUT.format(instruction="Add", input="2 and 3"), "5")
    with pytest.raises(LangAdaptError, match="instruction.*output"):
        alpaca_source_and_target({"instruction": "x"}, None, None, True)


def test_bundled_sample_dictionaries_load_and_cover_the_bundled_data():
    en_hi = CodeMixer(load_muse_dictionary("dicts/sample/en-hi.txt"), 1.0)
    for record in json.load(open("examples/data/alpaca_sample.json", encoding="utf-8")):
        en_hi.mix(record["output"], random.Random(0))
    hi_en = CodeMixer(load_muse_dictionary("dicts/sample/hi-en.txt"), 1.0)
    for line in open("examples/data/hi_text_sample.jsonl", encoding="utf-8"):
        hi_en.mix(json.loads(line)["text"], random.Random(0))
    assert en_hi.stats.coverage > 0.15 and hi_en.stats.coverage > 0.15
    assert len(load_muse_dictionary("dicts/sample/en-el.txt")) and len(load_muse_dictionary("dicts/sample/el-en.txt"))
