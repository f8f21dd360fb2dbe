"""The lm-eval 0.4 task package (langadapt/lm_eval_tasks) under lm-eval itself: the same predictions as run_eval.py
on the same model and rows. Local rows replace the hub datasets through a YAML that includes ours."""
import json
from pathlib import Path

import pytest

import run_eval
from langadapt.__main__ import TASKS_DIR, main as langadapt_main
from langadapt.evaluation.fork_cli import FORK_TASKS

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "tests" / "fixtures" / "qa"
XCOPA = ROOT / "examples" / "data" / "eval" / "xcopa_sw_test.jsonl"

pytestmark = pytest.mark.slow


def local_task(folder: Path, name: str, split: str, rows: Path) -> str:
    """A task that is `name` from our package, reading `rows` as its `split`."""
    (folder / f"local_{name}.yaml").write_text(
        f"include: {TASKS_DIR / (name + '.yaml')}\ntask: local_{name}\ndataset_path: json\ndataset_name: null\n"
        f"validation_split: null\ndataset_kwargs:\n  data_files:\n    {split}: {rows}\n")
    return f"local_{name}"


def lm_eval_samples(tmp_path, model_dir, task, split, rows, **kwargs):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    name = local_task(tmp_path, task, split, rows)
    # lm-eval 0.4 would prepend <s> to a Llama prompt; the fork, and run_eval, do not
    args = f"pretrained={model_dir},dtype=float32,add_bos_token=False"
    out = simple_evaluate(model="hf", model_args=args, tasks=[name],
                          task_manager=TaskManager(include_path=str(tmp_path)), device="cpu", log_samples=True,
                          **kwargs)
    return out["results"][name], sorted(out["samples"][name], key=lambda s: s["doc_id"])


def test_the_entry_prints_the_package_and_lm_eval_indexes_every_task(capsys):
    from lm_eval.tasks import TaskManager

    assert langadapt_main(["lm_eval_tasks"]) == 0
    assert capsys.readouterr().out.strip() == str(TASKS_DIR)
    names = set(TaskManager(include_path=str(TASKS_DIR)).all_tasks)
    assert set(FORK_TASKS) <= names
    assert {"sensia_xcopa_sw", "sensia_xstorycloze_hi", "sensia_belebele_swh_Latn"} <= names


@pytest.mark.parametrize("name, split", [("ogx_xquad_de", "validation"), ("ogx_mlqa_de", "test")])
def test_ogx_tasks_under_lm_eval_predict_as_run_eval(tmp_path, name, split):
    rows = QA / "de_rows.jsonl"
    model = QA / "tiny-llama-spm"
    results, samples = lm_eval_samples(tmp_path, model, name, split, rows, batch_size=2)
    ours = tmp_path / "ours.jsonl"
    task, lang, _ = FORK_TASKS[name]
    run_eval.main(["--model_path", str(model), "--task", task, "--lang", lang, "--data_path", str(rows),
                   "--device", "cpu", "--batch_size", "2", "--log_samples", str(ours), "--output_file",
                   str(tmp_path / "r.json")])
    ours_rows = [json.loads(line) for line in ours.read_text().splitlines()]
    assert [s["filtered_resps"][0].strip() for s in samples] == [r["prediction"] for r in ours_rows]
    metrics = json.loads((tmp_path / "r.json").read_text())["metrics"]
    assert results["exact_match,none"] == pytest.approx(metrics["exact_match"])
    assert results["f1,none"] == pytest.approx(metrics["f1"])


def test_sensia_xcopa_under_lm_eval_predicts_as_run_eval_original(tmp_path, tiny_gpt2_dir):
    results, samples = lm_eval_samples(tmp_path, tiny_gpt2_dir, "sensia_xcopa_sw", "test", XCOPA, batch_size=4)
    ours = tmp_path / "ours.jsonl"
    run_eval.main(["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw", "--data_path", str(XCOPA),
                   "--device", "cpu", "--prompt_format", "original", "--log_samples", str(ours)])
    ours_rows = [json.loads(line) for line in ours.read_text().splitlines()]
    theirs = [max(range(2), key=lambda i: s["filtered_resps"][i][0]) for s in samples]
    assert theirs == [r["pred"] for r in ours_rows]
    # the harness also scores the context's "\n", one constant per example: the options' differences agree
    for s, r in zip(samples, ours_rows):
        lm = [resp[0] for resp in s["filtered_resps"]]
        assert lm[0] - lm[1] == pytest.approx(r["loglikelihoods"][0] - r["loglikelihoods"][1], abs=1e-4)
