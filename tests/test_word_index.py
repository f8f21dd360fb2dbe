"""The bulk word machinery under the code-mixer: splitting, hashing, the hash index, span gathering."""
import random

import numpy as np

from langadapt.word_index import (GrowingArray, HashIndex, SpacedWords, WordHasher, from_code_points, gather_spans,
                                  to_code_points)


def spaced_texts():
    rng = random.Random(0)
    pieces = ["a", "tea", "घर", "😀", "\ud800", "x\ny", ",", "", "«»"]
    texts = ["", " ", "  ", "a", " a", "a ", "a  b"]
    for _ in range(200):
        texts.append("".join(rng.choice(pieces) + rng.choice([" ", " ", "  ", ""]) for _ in range(rng.randint(0, 12))))
    return texts


def test_words_are_what_str_split_on_a_space_gives():
    for text in spaced_texts():
        words = SpacedWords(text)
        got = [text[start:start + length] for start, length in zip(words.starts.tolist(), words.lengths.tolist())]
        assert got == text.split(" ")
        assert words.spelled(np.arange(len(words))) == text.split(" ")
        # every word is followed by a space in the code points, the last one too
        assert (words.code_points[words.starts + words.lengths] == ord(" ")).all()


def test_word_of_maps_positions_and_spaces_to_their_word():
    words = SpacedWords("ab  c")
    assert words.word_of([0, 1, 2, 3, 4, 5]).tolist() == [0, 0, 0, 1, 2, 2]


def test_code_points_round_trip_astral_characters_and_lone_surrogates():
    text = "a😀\ud800घ"
    assert to_code_points(text).tolist() == [ord(c) for c in text]
    assert from_code_points(to_code_points(text)) == text


def test_gather_spans_concatenates_ranges_including_empty_ones():
    positions, bounds = gather_spans(np.array([5, 9, 0, 2]), np.array([2, 0, 3, 1]))
    assert positions.tolist() == [5, 6, 0, 1, 2, 2]
    assert bounds.tolist() == [0, 2, 2, 5, 6]


def test_growing_array_keeps_what_was_appended_across_growth():
    array = GrowingArray(np.int64)
    chunks = [np.arange(n) for n in (3, 1000, 5000, 0, 7)]
    for chunk in chunks:
        array.extend(chunk)
    assert array.array[:array.size].tolist() == np.concatenate(chunks).tolist()
    array.truncate(4)
    assert array.size == 4


def test_same_word_same_hash_wherever_it_stands_and_distinct_words_differ():
    hasher = WordHasher()
    words = SpacedWords("tea x tea  tea घर tee eat")
    hashes = hasher(words).tolist()
    assert hashes[0] == hashes[2] == hashes[4] and hashes[0] != hashes[6] and hashes[0] != hashes[7]
    assert len({hashes[i] for i in (0, 1, 3, 5, 6, 7)}) == 6 and 0 not in hashes
    # a run inside a word hashes as the same letters standing alone
    assert hasher(SpacedWords("xteax"), np.array([1]), np.array([3])).tolist() == [hashes[0]]
    vocabulary = SpacedWords(" ".join(f"w{i}" for i in range(20_000)))
    assert len(set(hasher(vocabulary).tolist())) == 20_000


def test_hash_index_finds_what_it_stores_through_long_probe_chains_and_growth():
    rng = np.random.default_rng(0)
    index = HashIndex(capacity_bits=4)
    hashes = rng.integers(1, 2 ** 63, 5000, dtype=np.uint64)
    # 300 hashes share one home slot (same top bits), so their chain outgrows the vectorised probes
    crowded = (np.uint64(7) << np.uint64(60)) | rng.integers(1, 2 ** 40, 300, dtype=np.uint64)
    hashes = np.unique(np.concatenate([hashes, crowded]))
    ids = np.arange(len(hashes))
    for start in range(0, len(hashes), 700):  # several inserts, growing the table on the way
        index.insert(hashes[start:start + 700], ids[start:start + 700])
    assert index.find(hashes).tolist() == ids.tolist()
    missing = np.array([3, (7 << 60) | 5], dtype=np.uint64)
    assert index.find(missing).tolist() == [-1, -1]
    index.insert(hashes[:3], np.array([-5, -6, -7]))  # a stored hash keeps its first id
    assert index.find(hashes[:3]).tolist() == [0, 1, 2]
