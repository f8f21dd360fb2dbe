"""Write the demo's bundled English-Swahili data (run once; its output is committed under examples/data/).

The sentences come from a small hand-written grammar (subjects, verbs with fitting objects, places and
times, each with its Swahili rendering), so the corpus is ours, grammatical on both sides, and large
enough for a tiny model to learn from. Outputs, in the real formats:
- examples/data/opus/: two OPUS corpora in an opustools download folder (a moses zip and an xml alignment),
  with some duplicates, English-English lines and bad length ratios for the filters to remove;
- examples/data/hf_parallel_eng_swh/: a `save_to_disk` DatasetDict with a `translation` column
  (`eng_Latn`/`swh_Latn` keys, as allenai/nllb);
- examples/data/flores_demo/{dev,devtest}/{eng_Latn,swh_Latn}.{split}: held-out pairs in the FLORES-200 layout.
"""
from __future__ import annotations

import itertools
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBJECTS = [("The child", "Mtoto"), ("The teacher", "Mwalimu"), ("The farmer", "Mkulima"),
            ("The doctor", "Daktari"), ("My friend", "Rafiki yangu"), ("The woman", "Mwanamke"),
            ("The man", "Mwanamume"), ("The student", "Mwanafunzi")]
# (English verb, Swahili stem with the a-na- prefix for a class-1 subject, objects that fit)
VERBS = [("reads", "anasoma", [("a book", "kitabu"), ("a letter", "barua"), ("the newspaper", "gazeti")]),
         ("eats", "anakula", [("food", "chakula"), ("bread", "mkate"), ("a fruit", "tunda"), ("rice", "wali")]),
         ("drinks", "anakunywa", [("water", "maji"), ("tea", "chai"), ("milk", "maziwa")]),
         ("writes", "anaandika", [("a letter", "barua"), ("a book", "kitabu"), ("a song", "wimbo")]),
         ("buys", "ananunua", [("bread", "mkate"), ("a book", "kitabu"), ("milk", "maziwa"), ("a fruit", "tunda")]),
         ("cooks", "anapika", [("food", "chakula"), ("rice", "wali"), ("tea", "chai")]),
         ("sings", "anaimba", [("a song", "wimbo")]),
         ("sees", "anaona", [("a car", "gari"), ("a tree", "mti"), ("the sea", "bahari"), ("a bird", "ndege")])]
PLACES = [("", ""), ("at home", "nyumbani"), ("at school", "shuleni"), ("at the market", "sokoni"),
          ("in the city", "mjini")]
TIMES = [("", ""), ("today", "leo"), ("every day", "kila siku"), ("in the morning", "asubuhi"),
         ("at night", "usiku")]


def all_pairs() -> list[tuple[str, str]]:
    pairs = []
    for (s_en, s_sw), (v_en, v_sw, objects), (p_en, p_sw), (t_en, t_sw) in itertools.product(
            SUBJECTS, VERBS, PLACES, TIMES):
        for o_en, o_sw in objects:
            english = " ".join(w for w in (s_en, v_en, o_en, p_en, t_en) if w) + "."
            swahili = " ".join(w for w in (s_sw, v_sw, o_sw, p_sw, t_sw) if w) + "."
            pairs.append((english, swahili))
    return pairs


def noisy(pairs: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """Add what real OPUS data has: duplicates, untranslated lines and misaligned pairs."""
    extra = [rng.choice(pairs) for _ in range(len(pairs) // 10)]
    untranslated = [(en, en) for en, _ in rng.sample(pairs, len(pairs) // 20)]
    misaligned = [(en, "Ndiyo.") for en, _ in rng.sample(pairs, len(pairs) // 20)]
    mixed = pairs + extra + untranslated + misaligned
    rng.shuffle(mixed)
    return mixed


def write_flores(folder: Path, split: str, pairs: list[tuple[str, str]]) -> None:
    (folder / split).mkdir(parents=True, exist_ok=True)
    (folder / split / f"eng_Latn.{split}").write_text("".join(en + "\n" for en, _ in pairs), encoding="utf-8")
    (folder / split / f"swh_Latn.{split}").write_text("".join(sw + "\n" for _, sw in pairs), encoding="utf-8")


def main() -> None:
    from datasets import Dataset, DatasetDict

    from langadapt.corpus.opus_format import write_opus_moses_zip, write_opus_xml

    rng = random.Random(2024)
    pairs = all_pairs()
    rng.shuffle(pairs)
    dev, devtest, train = pairs[:64], pairs[64:128], pairs[128:]
    data = ROOT / "examples" / "data"
    for name in ("opus", "hf_parallel_eng_swh", "flores_demo"):
        shutil.rmtree(data / name, ignore_errors=True)
    third = len(train) // 3
    write_opus_moses_zip(data / "opus", "DemoNews", "en", "sw", noisy(train[:third], rng))
    talks = noisy(train[third:2 * third], rng)
    write_opus_xml(data / "opus", "DemoTalks", "en", "sw", [talks[i:i + 50] for i in range(0, len(talks), 50)])
    hf_rows = [{"translation": {"eng_Latn": en, "swh_Latn": sw}} for en, sw in noisy(train[2 * third:], rng)]
    DatasetDict({"train": Dataset.from_list(hf_rows)}).save_to_disk(str(data / "hf_parallel_eng_swh"))
    write_flores(data / "flores_demo", "dev", dev)
    write_flores(data / "flores_demo", "devtest", devtest)
    print(f"{len(pairs)} pairs: {len(train)} train (+ noise), {len(dev)} dev, {len(devtest)} devtest")


if __name__ == "__main__":
    main()
