"""Write the demo's bundled English-Swahili data (run once; its output is committed under examples/data/).

The sentences come from a small hand-written grammar (subjects, verbs with fitting objects, places and
times, each with its Swahili rendering), so the corpus is ours, grammatical on both sides, and large
enough for a tiny model to learn from. Outputs, in the real formats:
- examples/data/opus/: two OPUS corpora in an opustools download folder (a moses zip and an xml alignment),
  with some duplicates, English-English lines and bad length ratios for the filters to remove;
- examples/data/hf_parallel_eng_swh/: a `save_to_disk` DatasetDict with a `translation` column
  (`eng_Latn`/`swh_Latn` keys, as allenai/nllb);
- examples/data/flores_demo/{dev,devtest}/{eng_Latn,swh_Latn}.{split}: held-out pairs in the FLORES-200 layout;
- examples/data/grammar/: what the demo needs beyond the corpus, so that each of its results can move:
  English of the training pairs for pretraining the base Backpack (`english_train.txt`, `english_valid.txt`,
  the validation lines held out of pretraining), XCOPA-style rows whose right choice is the verb's fitting
  object (`xcopa_sw.jsonl`, in pairs that swap the objects, so a model blind to Swahili scores 1/2), and a
  Hindi grammar of the same shape (`hindi_train.jsonl` for COMMIT alignment; `flores_hindi/` held out).
"""
from __future__ import annotations

import itertools
import json
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


# Hindi of the same shape (SOV: [time] subject [place] object verb): subjects with their gender, verb stems
HI_SUBJECTS = [("बच्चा", "m"), ("शिक्षक", "m"), ("किसान", "m"), ("डॉक्टर", "m"), ("मेरा दोस्त", "m"),
               ("औरत", "f"), ("आदमी", "m"), ("छात्रा", "f")]
HI_VERBS = [("पढ़", ["किताब", "चिट्ठी", "अखबार"]), ("खा", ["खाना", "रोटी", "फल", "चावल"]),
            ("पी", ["पानी", "चाय", "दूध"]), ("लिख", ["चिट्ठी", "किताब", "गाना"]),
            ("खरीद", ["रोटी", "किताब", "दूध", "फल"]), ("पका", ["खाना", "चावल", "चाय"]), ("गा", ["गाना"]),
            ("देख", ["गाड़ी", "पेड़", "समुद्र", "चिड़िया"])]
HI_PLACES = ["", "घर पर", "स्कूल में", "बाज़ार में", "शहर में"]
HI_TIMES = ["", "आज", "हर दिन", "सुबह", "रात को"]


def hindi_sentences() -> list[str]:
    sentences = []
    for (subject, gender), (stem, objects), place, time in itertools.product(HI_SUBJECTS, HI_VERBS, HI_PLACES,
                                                                               HI_TIMES):
        verb = stem + ("ता है" if gender == "m" else "ती है")
        sentences += [" ".join(w for w in (time, subject, place, obj, verb) if w) + "।" for obj in objects]
    return sentences


def xcopa_rows(rng: random.Random, n_pairs: int) -> list[dict]:
    """Rows in pairs: "S v1 o1." vs "S v1 o2." and "S v2 o2." vs "S v2 o1.", where o1 fits only v1 and o2
    only v2. A model that prefers one object whatever the verb gets exactly one row of each pair right."""
    rows = []
    while len(rows) < 2 * n_pairs:
        (_, subject), (_, _, premise_objects) = rng.choice(SUBJECTS), rng.choice(VERBS)
        (_, v1, objects1), (_, v2, objects2) = rng.sample(VERBS, 2)
        o1 = [o for _, o in objects1 if o not in {x for _, x in objects2}]
        o2 = [o for _, o in objects2 if o not in {x for _, x in objects1}]
        if not o1 or not o2:
            continue
        o1, o2 = rng.choice(o1), rng.choice(o2)
        premise_verb = rng.choice(VERBS)
        premise = f"{subject} {premise_verb[1]} {rng.choice(premise_verb[2])[1]} {rng.choice(PLACES[1:])[1]}."
        for verb, right, wrong in ((v1, o1, o2), (v2, o2, o1)):
            label = rng.randrange(2)
            choices = [f"{subject} {verb} {wrong}.", f"{subject} {verb} {wrong}."]
            choices[label] = f"{subject} {verb} {right}."
            rows.append({"premise": premise, "choice1": choices[0], "choice2": choices[1],
                         "question": rng.choice(["cause", "effect"]), "label": label, "idx": len(rows),
                         "changed": False})
    return rows


def write_lines(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")


def write_grammar_data(folder: Path, train: list[tuple[str, str]], rng: random.Random) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    english = [en for en, _ in train]
    write_lines(folder / "english_valid.txt", english[:300])
    write_lines(folder / "english_train.txt", english[300:])
    write_lines(folder / "xcopa_sw.jsonl", [json.dumps(row, ensure_ascii=False) for row in xcopa_rows(rng, 100)])
    hindi = hindi_sentences()
    rng.shuffle(hindi)
    for split, part in (("dev", hindi[:100]), ("devtest", hindi[100:200])):
        write_lines(folder / "flores_hindi" / split / f"hin_Deva.{split}", part)
    rest = hindi[200:]
    write_lines(folder / "hindi_train.jsonl", [json.dumps({"text": " ".join(rest[i:i + 4])}, ensure_ascii=False)
                                               for i in range(0, len(rest), 4)])


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
    write_grammar_data(data / "grammar", train, random.Random(7))
    print(f"{len(pairs)} pairs: {len(train)} train (+ noise), {len(dev)} dev, {len(devtest)} devtest")


if __name__ == "__main__":
    main()
