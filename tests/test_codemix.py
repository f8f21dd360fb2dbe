"""Code-mixing as REFERENCE.md section 3 specifies it: dictionaries, word-level mixing, Alpaca templates."""
import random
import string
import unicodedata
from collections import Counter

import pytest

from langadapt import codemix
from langadapt.codemix import (ALPACA_PROMPT_INPUT, ALPACA_PROMPT_NO_INPUT, CodeMixer, MuseDictionary,
                               alpaca_prompt_and_response, dictionary_direction, example_rng,
                               load_muse_dictionary)
from langadapt.errors import LangAdaptError


def mixer_of(table, ratio):
    return CodeMixer(MuseDictionary({k: tuple(v) for k, v in table.items()}, "test"), ratio)


def test_muse_file_tab_space_comments_and_multiple_translations(tmp_path):
    path = tmp_path / "en-hi.txt"
    path.write_text("# comment\n\nhouse\tघर\nhouse मकान\nhouse\tघर\nwater पानी\n", encoding="utf-8")
    dictionary = load_muse_dictionary(path)
    assert dictionary.translations == {"house": ("घर", "मकान"), "water": ("पानी",)}
    assert (dictionary.source_lang, dictionary.target_lang) == ("en", "hi")


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "en-hi.txt"
    path.write_text("house\tघर\nthree words here\n", encoding="utf-8")
    with pytest.raises(LangAdaptError, match=r"en-hi.txt:2"):
        load_muse_dictionary(path)


def test_missing_dictionary_says_how_to_fetch(tmp_path):
    with pytest.raises(LangAdaptError, match=r"fetch_muse.py en-th"):
        load_muse_dictionary(tmp_path / "en-th.txt")


def test_direction_from_file_name():
    assert dictionary_direction("dicts/sample/hi-en.txt") == ("hi", "en")
    assert dictionary_direction("dicts/en-el.0-5000.txt") == ("en", "el")
    assert dictionary_direction("my_lexicon.txt") == (None, None)


def test_punctuation_stripped_and_reattached_spacing_kept():
    mixer = mixer_of({"Hello": ["Namaste"], "world": ["duniya"], "tea": ["chai"]}, 1.0)
    text = "\"Hello,  world!\" (tea) tea\nHello"
    # splitting is on spaces only: "tea\nHello" is one word whose core is not in the dictionary
    assert mixer.mix(text, random.Random(0)) == "\"Namaste,  duniya!\" (chai) tea\nHello"


def test_lookup_is_case_sensitive():
    mixer = mixer_of({"house": ["ghar"]}, 1.0)
    assert mixer.mix("House house HOUSE", random.Random(0)) == "House ghar HOUSE"


def test_ratio_zero_and_one():
    table = {"a": ["x"], "b": ["y"]}
    assert mixer_of(table, 0.0).mix("a b c a", random.Random(1)) == "a b c a"
    assert mixer_of(table, 1.0).mix("a b c a", random.Random(1)) == "x y c x"


def test_ratio_outside_unit_interval_is_refused():
    with pytest.raises(LangAdaptError, match="codemix_ratio"):
        mixer_of({"a": ["x"]}, 1.5)


def test_translations_chosen_uniformly():
    mixer = mixer_of({"go": ["one", "two", "three"]}, 1.0)
    counts = Counter(mixer.mix(" ".join(["go"] * 3000), random.Random(7)).split(" "))
    assert set(counts) == {"one", "two", "three"}
    assert all(800 < n < 1200 for n in counts.values())


def test_replacement_rate_matches_ratio_times_coverage():
    vocabulary = [f"w{i}" for i in range(200)]
    table = {word: [word.upper()] for word in vocabulary[:80]}  # 40% of the vocabulary
    rng = random.Random(3)
    words = [rng.choice(vocabulary) + rng.choice(["", "", ",", "."]) for _ in range(10_000)]
    mixer = mixer_of(table, 0.6)
    mixed = mixer.mix(" ".join(words), random.Random(11)).split(" ")
    replaced = sum(a != b for a, b in zip(words, mixed))
    assert mixer.stats.words == 10_000 and mixer.stats.replaced == replaced
    expected = 0.6 * mixer.stats.coverage
    assert abs(replaced / 10_000 - expected) < 0.02
    assert 0.35 < mixer.stats.coverage < 0.45


def test_draws_repeat_per_example_and_change_per_epoch():
    mixer = mixer_of({f"w{i}": [f"W{i}"] for i in range(50)}, 0.5)
    text = " ".join(f"w{i}" for i in range(50))
    first = mixer.mix(text, example_rng(0, epoch=0, index=5))
    assert mixer.mix(text, example_rng(0, epoch=0, index=5)) == first
    assert mixer.mix(text, example_rng(0, epoch=1, index=5)) != first
    assert mixer.mix(text, example_rng(0, epoch=0, index=6)) != first


TEMPLATE_TABLE = {"Below": ["नीचे"], "instruction": ["निर्देश"], "task.": ["काम"], "task": ["काम"],
                  "Response:": ["जवाब"], "Response": ["जवाब"], "Write": ["लिखो"], "water": ["पानी"],
                  "Drink": ["पियो"]}


def test_template_untouched_when_blocked():
    record = {"instruction": "Drink water", "input": "", "output": "Drink water"}
    prompt, response = alpaca_prompt_and_response(record, mixer_of(TEMPLATE_TABLE, 1.0), random.Random(0), True)
    assert prompt == ALPACA_PROMPT_NO_INPUT.format(instruction="पियो पानी")
    assert response == "पियो पानी"


def test_template_mixed_when_not_blocked():
    record = {"instruction": "Drink water", "input": "a glass", "output": "Drink water"}
    prompt, response = alpaca_prompt_and_response(record, mixer_of(TEMPLATE_TABLE, 1.0), random.Random(0), False)
    assert prompt.startswith("नीचे is an निर्देश that describes a काम")
    # "Instruction:\nDrink" is one space-separated word, so only "water" of the instruction is mixed
    assert "\nDrink पानी\n" in prompt and "Below" not in prompt and "### जवाब" in prompt
    assert response == "पियो पानी"


def test_unmixed_prompt_uses_the_input_template():
    record = {"instruction": "Add", "input": "2 and 3", "output": "5"}
    prompt, response = alpaca_prompt_and_response(record, None, None, True)
    assert prompt == ALPACA_PROMPT_INPUT.format(instruction="Add", input="2 and 3") and response == "5"


def test_alpaca_record_without_output_is_refused():
    with pytest.raises(LangAdaptError, match="instruction.*output"):
        alpaca_prompt_and_response({"instruction": "x"}, None, None, True)


def test_bundled_sample_dictionaries_load_and_cover_the_bundled_data():
    import json

    en_hi = CodeMixer(load_muse_dictionary("dicts/sample/en-hi.txt"), 1.0)
    for record in json.load(open("examples/data/alpaca_sample.json", encoding="utf-8")):
        en_hi.mix(record["output"], random.Random(0))
    hi_en = CodeMixer(load_muse_dictionary("dicts/sample/hi-en.txt"), 1.0)
    for line in open("examples/data/hi_text_sample.jsonl", encoding="utf-8"):
        hi_en.mix(json.loads(line)["text"], random.Random(0))
    assert en_hi.stats.coverage > 0.15 and hi_en.stats.coverage > 0.15
    assert len(load_muse_dictionary("dicts/sample/en-el.txt")) and len(load_muse_dictionary("dicts/sample/el-en.txt"))


def test_unicode_punctuation_ascii_symbols_and_whitespace_are_edges_other_symbols_not():
    mixer = mixer_of({"house": ["ghar"]}, 1.0)
    text = "«house»। $house house€ house\u00a0 ¿house?"
    assert mixer.mix(text, random.Random(0)) == "«ghar»। $ghar house€ ghar\u00a0 ¿ghar?"


def reference_mix_at_ratio_one(text, table):
    """REFERENCE.md section 3 written the straightforward way, for single-translation words at ratio 1."""
    def edge(char):
        return char in string.punctuation or char.isspace() or unicodedata.category(char).startswith("P")

    out = []
    for word in text.split(" "):
        start, end = 0, len(word)
        while start < end and edge(word[start]):
            start += 1
        while end > start and edge(word[end - 1]):
            end -= 1
        core = word[start:end]
        out.append(word[:start] + table[core] + word[end:] if core in table else word)
    return " ".join(out)


def test_mixing_matches_the_straightforward_reference_on_random_text():
    rng = random.Random(5)
    vocabulary = ["tea", "Tea", "water", "घर", "go", "a", "x1", "don't"]
    table = {"tea": "chai", "water": "पानी", "घर": "house", "go": "jao", "don't": "mat"}
    edges = ["", "", ",", ".", "!?", "(", ")", "«", "»", "।", "\n", "\t", "$", "€", "'", "\u3000"]
    words = [rng.choice(edges) + rng.choice(vocabulary) + rng.choice(edges) for _ in range(3000)]
    text = "".join(word + rng.choice([" ", " ", "  ", " \n "]) for word in words)
    mixer = mixer_of({k: [v] for k, v in table.items()}, 1.0)
    assert mixer.mix(text, random.Random(0)) == reference_mix_at_ratio_one(text, table)


def test_several_texts_of_one_example_are_mixed_separately_with_their_spacing():
    mixer = mixer_of({"a": ["x"], "b": ["y"]}, 1.0)
    assert mixer.mix_texts(["a  b", "", "b a\nc"], random.Random(0)) == ["x  y", "", "y a\nc"]
    assert (mixer.stats.words, mixer.stats.in_dictionary, mixer.stats.replaced) == (4, 3, 3)
    assert mixer_of({"a": ["x"]}, 0.0).mix_texts(["a", "a b"], random.Random(0)) == ["a", "a b"]


def test_translations_chosen_uniformly_behind_punctuation():
    mixer = mixer_of({"go": ["one", "two", "three"]}, 0.5)
    counts = Counter(mixer.mix(" ".join(["(go,"] * 6000), random.Random(2)).split(" "))
    assert set(counts) == {"(go,", "(one,", "(two,", "(three,"}
    assert 2750 < counts["(go,"] < 3250 and all(850 < counts[f"({w},"] < 1150 for w in ("one", "two", "three"))


@pytest.mark.parametrize("limit", ["OUTCOME_CACHE_LIMIT", "CODE_POINT_LIMIT"])
def test_words_past_the_cache_limits_are_still_mixed(monkeypatch, limit):
    monkeypatch.setattr(codemix, limit, 1)
    mixer = mixer_of({"a": ["x"], "b": ["y"]}, 1.0)
    assert mixer.mix("a, b. c a", random.Random(0)) == "x, y. c x"
    assert mixer.mix("b a, d", random.Random(0)) == "y x, d"
    assert len(mixer._outcomes) == 4  # forgotten before the second text: the empty word and its 3 words


def test_example_stream_is_reproducible_and_reads_on():
    whole = example_rng(3, 1, 7).randbytes(12)
    stream = example_rng(3, 1, 7)
    assert stream.randbytes(5) + stream.randbytes(7) == whole
    assert example_rng(3, 2, 7).randbytes(12) != whole and example_rng(4, 1, 7).randbytes(12) != whole


def reference_mix_with_draws(texts, table, ratio, rng):
    """The draw rule written word by word: one little-endian 32-bit draw per space-separated word, kept
    below (1 - ratio) * 2**32, else translation i for a draw in the i-th of k equal slices of the rest."""
    import bisect

    replaced_range = round(ratio * 2 ** 32)
    kept_below = 2 ** 32 - replaced_range
    out = []
    for text in texts:
        mixed = []
        for word in text.split(" "):
            draw = int.from_bytes(rng.randbytes(4), "little")
            core = word.strip(string.punctuation + " \n")
            options = table.get(core, []) if core else []
            starts = [kept_below + replaced_range * i // len(options) for i in range(len(options))]
            pick = bisect.bisect_right(starts, draw)
            mixed.append(word.replace(core, options[pick - 1], 1) if pick else word)
        out.append(" ".join(mixed))
    return out


def test_a_batch_mixes_each_example_as_the_word_by_word_rule_with_its_own_stream():
    table = {"go": ["one", "two", "three"], "tea": ["chai"], "water": ["pani", "jal"]}
    rng = random.Random(4)
    vocabulary = ["go", "tea", "water", "x", "(go,", "tea.", "water!", ""]
    examples = [[" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 3))]
                for _ in range(30)]
    mixer = mixer_of(table, 0.6)
    got = mixer.mix_batch(examples, [example_rng(9, 2, index) for index in range(30)])
    assert got == [reference_mix_with_draws(texts, table, 0.6, example_rng(9, 2, index))
                   for index, texts in enumerate(examples)]
    assert got[:7] == [mixer.mix_texts(texts, example_rng(9, 2, index)) for index, texts in enumerate(examples[:7])]
    # other random sources (random.Random) go through their randbytes, read on the same way
    assert mixer.mix_batch(examples[:5], [random.Random(index) for index in range(5)]) == \
        [reference_mix_with_draws(texts, table, 0.6, random.Random(index)) for index, texts in enumerate(examples[:5])]
    assert {word for texts in got for text in texts for word in text.split(" ")} >= {"one", "two", "three", "(go,"}


def test_batch_draws_continue_each_stream_where_it_was_read_to():
    streams = [example_rng(1, 0, 3), example_rng(1, 0, 4)]
    streams[0].randbytes(12)
    draws = codemix.example_draws(streams, [5, 2])
    continued, fresh = example_rng(1, 0, 3), example_rng(1, 0, 4)
    continued.randbytes(12)
    expected = continued.randbytes(20) + fresh.randbytes(8)
    assert draws.tolist() == [int.from_bytes(expected[i:i + 4], "little") for i in range(0, 28, 4)]
    assert codemix.example_draws(streams, [1]).tolist()[0] == int.from_bytes(continued.randbytes(4), "little")


def test_hash_collisions_never_change_the_output(monkeypatch):
    """With every word and every dictionary core hashing alike, lookups by hash find the wrong candidate
    or none; the code-point check and the dict fallbacks must still give the reference result."""
    from langadapt.word_index import WordHasher

    real_hash = WordHasher.__call__
    monkeypatch.setattr(WordHasher, "__call__", lambda self, *args: real_hash(self, *args) * 0 + 1)
    table = {"go": ["one", "two", "three"], "tea": ["chai"], "water": ["pani", "jal"]}
    rng = random.Random(8)
    vocabulary = ["go", "tea", "water", "x", "(go,", "tea.", "water!", "", "Tea"]
    examples = [[" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 30)))] for _ in range(20)]
    mixer = mixer_of(table, 0.6)
    for epoch in (0, 1):  # first sight, then every word known
        got = mixer.mix_batch(examples, [example_rng(9, epoch, index) for index in range(20)])
        assert got == [reference_mix_with_draws(texts, table, 0.6, example_rng(9, epoch, index))
                       for index, texts in enumerate(examples)]
    # the fallbacks really were taken: words and dictionary entries the index could not hold
    assert len(mixer._outcomes._unindexed) > 5 and len(mixer._outcomes._unindexed_entries) == len(table) - 1
    text = "«tea» tea, water go Tea"
    assert mixer_of({"tea": ["chai"], "water": ["pani"], "go": ["jao"]}, 1.0).mix(text, random.Random(0)) == \
        reference_mix_at_ratio_one(text, {"tea": "chai", "water": "pani", "go": "jao"})


def test_characters_beyond_the_basic_plane_and_lone_surrogates_pass_through():
    mixer = mixer_of({"house": ["ghar"], "घर": ["home"]}, 1.0)
    text = "house😀 😀house😀 «house» \ud800 घर। 😀"
    # 😀 is a symbol, not punctuation: it stays part of the core, which is then not in the dictionary
    assert mixer.mix(text, random.Random(0)) == "house😀 😀house😀 «ghar» \ud800 home। 😀"


def test_batch_streams_draw_what_each_example_stream_gives_and_read_on():
    from langadapt.codemix_random import ExampleStreams

    streams = ExampleStreams(5, [0, 1, 1], [10, 11, 12])
    draws = codemix.example_draws(streams, [3, 0, 5]).tolist() + codemix.example_draws(streams, [2, 1, 1]).tolist()
    singles = [example_rng(5, epoch, index) for epoch, index in [(0, 10), (1, 11), (1, 12)]]
    expected = []
    for counts in ([3, 0, 5], [2, 1, 1]):
        for stream, count in zip(singles, counts):
            raw = stream.randbytes(4 * count)
            expected += [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]
    assert draws == expected
    assert streams[2].randbytes(8) == singles[2].randbytes(8)  # a stream taken out reads on from there
