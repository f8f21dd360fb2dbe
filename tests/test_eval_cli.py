"""run_eval.py end to end on tiny local data in each task's real format."""
import json
import subprocess
import sys

import pytest

import run_eval
from langadapt.errors import LangAdaptError

XCOPA = "examples/data/eval/xcopa_sw_test.jsonl"
XQUAD = "examples/data/eval/xquad_hi.json"


@pytest.fixture(scope="module")
def task_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval-data")

    def write(name, rows):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return str(folder / name)

    stories = [{"story_id": str(i), **{f"input_sentence_{k}": f"Sentence {k} of story {i}." for k in range(1, 5)},
                "sentence_quiz1": "They went home.", "sentence_quiz2": "The fox jumps.", "answer_right_ending": 1 + i % 2}
               for i in range(4)]
    belebele = [{"flores_passage": "Nyumba ni jengo ambapo watu wanaishi.", "question": "Nyumba ni nini?",
                 "mc_answer1": "Jengo", "mc_answer2": "Mto", "mc_answer3": "Mti", "mc_answer4": "Gari",
                 "correct_answer_num": str(1 + i % 4), "dialect": "swh_Latn", "question_number": i} for i in range(4)]
    tatoeba = [{"sourceLang": "eng", "targetlang": "swh", "sourceString": s, "targetString": t} for s, t in [
        ("The house.", "Nyumba."), ("The family lives here.", "Familia inaishi hapa."), ("A dog.", "Mbwa.")]]
    mlqa = [{"id": f"m{i}", "context": "Berlin ist die Hauptstadt.", "question": "Was ist die Hauptstadt?",
             "answers": {"text": ["Berlin"], "answer_start": [0]}} for i in range(3)]
    return {"xstorycloze": write("xsc.jsonl", stories), "belebele": write("bele.jsonl", belebele),
            "tatoeba_retrieval": write("tatoeba.jsonl", tatoeba), "mlqa": write("mlqa.jsonl", mlqa),
            "xcopa": XCOPA, "xquad": XQUAD, "empty": write("empty.jsonl", [])}


def run(tmp_path, model_dir, *args):
    out, samples = tmp_path / "results.json", tmp_path / "samples.jsonl"
    assert run_eval.main(["--model_path", model_dir, "--output_file", str(out), "--log_samples", str(samples),
                          "--log_level", "WARNING", *args]) == 0
    return json.loads(out.read_text()), [json.loads(line) for line in samples.read_text().splitlines()]


@pytest.mark.parametrize("scoring", ["cond", "pmi", "letter"])
@pytest.mark.parametrize("task, lang", [("xcopa", "sw"), ("xstorycloze", "sw"), ("belebele", "swh")])
def test_choice_tasks_every_scoring_mode(tmp_path, tiny_gpt2_dir, task_files, task, lang, scoring):
    results, samples = run(tmp_path, tiny_gpt2_dir, "--task", task, "--lang", lang, "--scoring", scoring,
                           "--data_path", task_files[task], "--batch_size", "3")
    assert results["task"] == task and results["n_examples"] == len(samples) > 0
    assert results["metrics"]["acc"] == pytest.approx(sum(s["correct"] for s in samples) / len(samples))
    for sample in samples:
        assert sample["pred"] == max(range(len(sample["scores"])), key=sample["scores"].__getitem__)
        if scoring == "pmi":
            assert sample["scores"] == pytest.approx(  # the default lambda is the original's 0.1
                [c - 0.1 * p for c, p in zip(sample["loglikelihoods"], sample["prior_loglikelihoods"])], abs=1e-4)
        if scoring == "letter":
            assert sample["context"].endswith("Answer:") and sample["choices"] == [" A", " B", " C", " D"][:len(
                sample["choices"])]


@pytest.mark.parametrize("flags, alpha", [(["--length_alpha", "0.5"], 0.5), (["--use_mean_nll"], 1.0),
                                          (["--use_mean_nll", "--length_alpha", "0"], 1.0), ([], 0.0)])
def test_length_normalisation_divides_by_tokens_to_the_alpha(tmp_path, tiny_gpt2_dir, flags, alpha):
    _, samples = run(tmp_path, tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", "--data_path", XCOPA,
                     "--prompt_format", "harness", *flags)
    for s in samples:
        assert s["scores"] == pytest.approx([ll / n ** alpha for ll, n in zip(s["loglikelihoods"], s["n_tokens"])])


def test_qa_generation_tasks(tmp_path, tiny_llama_dir, task_files):
    results, samples = run(tmp_path, tiny_llama_dir, "--task", "xquad", "--lang", "enhi", "--data_path", XQUAD,
                           "--max_new_tokens", "6")
    assert results["lang"] == "enhi" and len(samples) == 4
    assert results["metrics"]["f1"] == pytest.approx(sum(s["f1"] for s in samples) / 4)
    assert all("\n" not in s["prediction"] for s in samples)
    results, samples = run(tmp_path, tiny_llama_dir, "--task", "mlqa", "--lang", "de", "--data_path",
                           task_files["mlqa"], "--max_new_tokens", "4", "--num_fewshot", "1")
    assert results["n_examples"] == 3 and set(results["metrics"]) == {"exact_match", "f1"}


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_backpack_dir"])
def test_tatoeba_retrieval_both_directions(request, tmp_path, task_files, fixture):
    results, samples = run(tmp_path, request.getfixturevalue(fixture), "--task", "tatoeba_retrieval", "--lang", "sw",
                           "--data_path", task_files["tatoeba_retrieval"], "--tatoeba_dir", "both")
    metrics = results["metrics"]
    hits = sum(s["pick_src2tgt"] == s["index"] for s in samples) / 3
    assert metrics["recall@1_src2tgt"] == pytest.approx(hits)
    assert metrics["recall@1"] == pytest.approx((metrics["recall@1_src2tgt"] + metrics["recall@1_tgt2src"]) / 2)


def test_tatoeba_file_and_direction_flags_of_the_original(tmp_path, tiny_gpt2_dir):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("src\ttgt\nThe house.\tNyumba.\nA dog.\tMbwa.\n", encoding="utf-8")
    results, samples = run(tmp_path, tiny_gpt2_dir, "--task", "tatoeba_retrieval", "--lang", "swh",
                           "--tatoeba_file", str(pairs), "--tatoeba_dir", "xx2en")
    assert set(results["metrics"]) == {"recall@1_tgt2src", "recall@1"}
    assert samples[1]["source"] == "A dog." and samples[1]["target"] == "Mbwa."
    results, _ = run(tmp_path, tiny_gpt2_dir, "--task", "tatoeba_retrieval", "--lang", "swh",
                     "--tatoeba_file", str(pairs))
    assert set(results["metrics"]) == {"recall@1_src2tgt", "recall@1"}  # the original's default: en2xx


def test_original_flags_subset_and_test_split(tmp_path, tiny_gpt2_dir, task_files):
    results, samples = run(tmp_path, tiny_gpt2_dir, "--task", "xstorycloze", "--lang", "sw", "--split", "test",
                           "--data_path", task_files["xstorycloze"], "--subset", "2", "--silence_warnings")
    assert results["split"] == "eval" and len(samples) == 2
    assert results["config"]["pmi_lambda"] == 0.1 and results["max_length"] == 128  # min(512, the model's)


def test_inputs_are_checked_before_the_model_loads(tmp_path, task_files, tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr(run_eval, "load_model_for_eval", lambda *a, **k: pytest.fail("the model loaded first"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"premise": "P.", "choice1": "A.", "choice2": "B.", "question": "cause",
                               "label": 5}) + "\n", encoding="utf-8")
    for args, message in ((["--data_path", str(bad)], "row 0: label 5 is outside the 2 options"),
                          (["--data_path", XCOPA, "--pmi_prior", "original"], "needs --scoring pmi")):
        with pytest.raises(LangAdaptError, match=message):
            run_eval.main(["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", *args])


def test_long_prompts_are_truncated_and_counted(tmp_path, tiny_gpt2_dir):
    results, _ = run(tmp_path, tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", "--data_path", XCOPA,
                     "--max_length", "24")
    assert results["truncated"] > 0


@pytest.mark.parametrize("args, message", [
    (["--task", "xcopa", "--lang", "sw", "--data_path", "empty"], "empty"),
    (["--task", "xcopa", "--lang", "de", "--data_path", XCOPA], "supported: et"),
    (["--task", "squad", "--lang", "sw"], "unknown task"),
    (["--task", "xcopa", "--lang", "sw", "--data_path", XCOPA, "--fp16", "--bf16"], "exclusive"),
    (["--task", "xquad", "--lang", "hi", "--data_path", XQUAD, "--scoring", "pmi"], "multiple-choice"),
])
def test_bad_input_is_a_clear_error(tmp_path, tiny_gpt2_dir, task_files, args, message):
    args = [task_files["empty"] if a == "empty" else a for a in args]
    with pytest.raises(LangAdaptError, match=message):
        run_eval.main(["--model_path", tiny_gpt2_dir, "--output_file", str(tmp_path / "r.json"), *args])
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_script_exits_2_with_one_line_error(tiny_gpt2_dir):
    proc = subprocess.run([sys.executable, "run_eval.py", "--model_path", tiny_gpt2_dir, "--task", "xcopa",
                           "--lang", "xx", "--data_path", XCOPA], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: --lang xx")


# sensia's run_eval (iter_xcopa + _sum_nll, -(nll / norm)) on the bundled XCOPA rows with the tiny GPT-2,
# --batch_size 3: the hypothesis opens the template, so it is found at token 0 (its first token unscored,
# the score still divided by its whole length). Before the fix: acc 0.75 with --use_mean_nll, sensia 0.25.
SENSIA_TEMPLATE_AT_0 = {
    (): [-66.211586, -72.123154, -84.496094, -78.013275, -53.244926, -83.311241, -53.511459, -71.359161,
         -41.751434, -41.843452, -78.179405, -71.776833, -102.363586, -60.693398, -77.688225, -72.025948],
    ("--use_mean_nll",): [-5.517632, -5.547935, -5.633073, -5.572377, -5.324492, -5.554083, -5.351146, -5.489166,
                          -5.218929, -5.230432, -5.584243, -5.521295, -5.686866, -5.517581, -5.549159, -5.540458],
}


@pytest.mark.parametrize("flags", list(SENSIA_TEMPLATE_AT_0))
def test_template_opening_with_the_hypothesis_scores_as_sensia(tmp_path, tiny_gpt2_dir, flags):
    results, samples = run(tmp_path, tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", "--data_path", XCOPA,
                           "--template", "{hypothesis} kwa sababu {premise}", "--batch_size", "3", *flags)
    assert [x for s in samples for x in s["scores"]] == pytest.approx(SENSIA_TEMPLATE_AT_0[flags], abs=2e-5)
    assert results["metrics"]["acc"] == 0.25


# sensia's evaluate_tatoeba (direction both, max_length 128) on the tiny Backpack, 64 pairs: the demo English
# FLORES sentences against themselves (first 32) and their Swahili (last 32). It pools every sentence of a
# batch from the batch's last sentence's states: right only at batch size 1, which our default equals.
SENSIA_RECALL = {1: (0.5, 0.515625), 8: (0.390625, 0.390625), 64: (0.015625, 0.03125)}


@pytest.mark.parametrize("batch_size", list(SENSIA_RECALL))
def test_original_retrieval_indexing_reproduces_sensias_recall(tmp_path, tiny_backpack_dir, batch_size):
    demo = "examples/data/flores_demo/devtest/{}.devtest"
    en = open(demo.format("eng_Latn"), encoding="utf-8").read().splitlines()
    sw = open(demo.format("swh_Latn"), encoding="utf-8").read().splitlines()
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("src\ttgt\n" + "".join(f"{a}\t{b}\n" for a, b in zip(en, en[:32] + sw[32:])), encoding="utf-8")
    args = ["--task", "tatoeba_retrieval", "--lang", "swh", "--tatoeba_file", str(pairs), "--tatoeba_dir", "both",
            "--batch_size", str(batch_size)]
    original, _ = run(tmp_path, tiny_backpack_dir, *args, "--original_retrieval_indexing")
    metrics = original["metrics"]
    assert (metrics["recall@1_src2tgt"], metrics["recall@1_tgt2src"]) == SENSIA_RECALL[batch_size]
    fixed, _ = run(tmp_path, tiny_backpack_dir, *args)
    assert (fixed["metrics"]["recall@1_src2tgt"], fixed["metrics"]["recall@1_tgt2src"]) == SENSIA_RECALL[1]


def test_original_retrieval_indexing_is_refused_for_other_tasks(tiny_gpt2_dir):
    with pytest.raises(LangAdaptError, match="--original_retrieval_indexing applies to tatoeba_retrieval"):
        run_eval.main(["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", "--data_path", XCOPA,
                       "--original_retrieval_indexing"])
