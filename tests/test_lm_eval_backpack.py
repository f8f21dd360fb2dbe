"""A saved Backpack under `lm_eval --model hf --model_args pretrained=<dir>,trust_remote_code=True`, in a process
where langadapt cannot be imported and in one where it can: the log-likelihoods of lm-eval's own xcopa and
belebele tasks equal `run_eval.py --prompt_format harness`'s (1e-4), with the same predictions."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import run_eval

ROOT = Path(__file__).resolve().parents[1]
LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"
XCOPA = ROOT / "examples" / "data" / "eval" / "xcopa_sw_test.jsonl"
BELEBELE_ROWS = [{"flores_passage": passage, "question": question, "mc_answer1": "Jengo", "mc_answer2": "Mto",
                  "mc_answer3": "Mti", "mc_answer4": "Gari", "correct_answer_num": str(1 + i % 4),
                  "dialect": "swh_Latn", "question_number": i}
                 for i, (passage, question) in enumerate([
                     ("Nyumba ni jengo ambapo watu wanaishi.", "Nyumba ni nini?"),
                     ("Mto Nile ni mrefu sana.", "Nini ni kirefu?"),
                     ("Watoto walicheza karibu na mti mkubwa.", "Watoto walicheza wapi?"),
                     ("Gari jekundu lilisimama barabarani.", "Nini kilisimama?")])]
TASKS = {"xcopa": ("xcopa_sw", LM_EVAL_TASKS / "xcopa" / "default_sw.yaml", "sw"),
         "belebele": ("belebele_swh_Latn", LM_EVAL_TASKS / "belebele" / "belebele_swh_Latn.yaml", "swh_Latn")}

SCRIPT = """
import importlib.util, json, sys
if sys.argv[3] == "absent":
    assert importlib.util.find_spec("langadapt") is None, "langadapt is importable"
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager
names = sys.argv[2].split(",")
out = simple_evaluate(model="hf", model_args=f"pretrained={sys.argv[1]},trust_remote_code=True", tasks=names,
                      task_manager=TaskManager(include_path=sys.argv[4]), device="cpu", batch_size=4,
                      log_samples=True)
print("LL_JSON " + json.dumps({name: [[resp[0] for resp in s["filtered_resps"]] for s in
                                      sorted(out["samples"][name], key=lambda s: s["doc_id"])] for name in names}))
"""


@pytest.fixture(scope="module")
def local_tasks(tmp_path_factory):
    """lm-eval's own xcopa_sw and belebele_swh_Latn, reading local rows."""
    folder = tmp_path_factory.mktemp("lm-eval-local")
    belebele = folder / "belebele.jsonl"
    belebele.write_text("".join(json.dumps(row) + "\n" for row in BELEBELE_ROWS))
    data = {"xcopa": XCOPA, "belebele": belebele}
    for key, (name, yaml, _) in TASKS.items():
        (folder / f"local_{name}.yaml").write_text(
            f"include: {yaml}\ntask: local_{name}\ndataset_path: json\ndataset_name: null\nvalidation_split: null\n"
            f"fewshot_split: null\ndataset_kwargs:\n  data_files:\n    test: {data[key]}\n")
    return folder, data


def lm_eval_loglikelihoods(model_dir, folder, langadapt: str, tmp_path):
    names = ",".join(f"local_{name}" for name, _, _ in TASKS.values())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    if langadapt == "present":
        env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, model_dir, names, langadapt, str(folder)],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("LL_JSON "))
    return json.loads(line[len("LL_JSON "):])


@pytest.mark.slow
@pytest.mark.parametrize("langadapt", ["absent", "present"])
def test_backpack_under_lm_eval_hf_equals_run_eval_harness(tiny_backpack_dir, local_tasks, tmp_path, langadapt):
    folder, data = local_tasks
    assert "auto_map" in json.loads((Path(tiny_backpack_dir) / "config.json").read_text())
    theirs = lm_eval_loglikelihoods(tiny_backpack_dir, folder, langadapt, tmp_path)
    for key, (name, _, lang) in TASKS.items():
        samples = tmp_path / f"{key}.jsonl"
        run_eval.main(["--model_path", tiny_backpack_dir, "--task", key, "--lang", lang, "--data_path",
                       str(data[key]), "--prompt_format", "harness", "--device", "cpu", "--log_samples", str(samples)])
        ours = [json.loads(line) for line in samples.read_text().splitlines()]
        lm = theirs[f"local_{name}"]
        assert len(lm) == len(ours) > 0
        for their_ll, row in zip(lm, ours):
            assert their_ll == pytest.approx(row["loglikelihoods"], abs=1e-4)
            assert max(range(len(their_ll)), key=their_ll.__getitem__) == row["pred"]
