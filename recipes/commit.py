"""COMMIT: code-mixed instruction tuning of an English-centric LLaMA, per target language.

Method, per language L (hi, el, th or any MUSE pair en-L): instruction-tune LLaMA-7B on Stanford Alpaca
(1,210 steps of 16 x 512 tokens, AdamW 2e-5 with 36 warmup steps, dropout and forgetful causal masking
0.05 / 0.1) in five variants: naive Alpaca (no code-mixing); naive code-mix (Table 4: 90% of the
dictionary words replaced by their MUSE translations everywhere, the template included); COMMIT (the same,
the English template kept unmixed); alignment then COMMIT (first 10,000 steps of causal LM on L Wikipedia
with 50% of its words replaced by English ones, then COMMIT); naive CLM then COMMIT (Table 3: the same
alignment without code-mixing, ratio 0). Each is evaluated on XQuAD with the language's prompt and with
English prompt labels, and on MLQA where it has the language (exact match and F1). The training flags are
the seed README's EasyLM flags, which commit_train.py takes as pasted.
"""
from __future__ import annotations

from pathlib import Path

from langadapt.recipes import Measure, Recipe, Stage
from langadapt.recipes.build import eval_stage, missing_rows, results_file, task_has

VARIABLES = {
    "langs": ["hi"],
    "llama": "meta-llama/Llama-2-7b-hf",  # the seed's $llama_weight_path: HF id or folder
    "variants": ["naive_alpaca", "naive_codemix", "commit", "align_commit", "clm_commit"],
    "prompts": ["native", "english"],  # XQuAD/MLQA prompt labels: the language's, or English (ogx_xquad_en{lang})
    "mlqa": True,
    "dicts": "dicts",  # folder of the MUSE dictionaries (python dicts/fetch_muse.py en-hi hi-en)
    "alpaca": "tatsu-lab/alpaca",
    "wikipedia": "graelo/wikipedia",
    "wiki_dump": "20230601",
    "publish_repo": "",  # e.g. <user>/llama-7b-commit-{lang}: push the COMMIT model of each language
}
COLUMNS = {"naive_alpaca": "naive Alpaca", "naive_codemix": "naive code-mix", "commit": "COMMIT",
           "align_commit": "align + COMMIT", "clm_commit": "naive CLM + COMMIT"}
SHARDED = {"nodes": 1, "gpus-per-node": 8, "cpus-per-gpu": 8}
DROPOUT = '{"resid_pdrop": 0.05, "embd_pdrop": 0.05, "attn_pdrop": 0.05, "fcm_max_ratio": 0.1}'


def easylm(model: str, steps: int, warmup: int, output: Path) -> dict:
    """The flags both seed commands share (model, optimiser, tokenizer, output)."""
    return {"--mesh_dim": "1,1,-1", "--load_llama_config": "7b", "--load_checkpoint": f"params::{model}",
            "--total_steps": steps, "--logger.output_dir": output, "--save_milestone_freq": steps,
            "--tokenizer.vocab_file": "tokenizer.model", "--tokenizer.add_bos_token": "True",
            "--tokenizer.add_eos_token": "True", "--optimizer.type": "adamw",
            "--optimizer.accumulate_gradient_steps": 1, "--optimizer.adamw_optimizer.weight_decay": 0.0,
            "--optimizer.adamw_optimizer.lr": 2e-5, "--optimizer.adamw_optimizer.b1": 0.9,
            "--optimizer.adamw_optimizer.b2": 0.999, "--optimizer.adamw_optimizer.end_lr": 1e-7,
            "--optimizer.adamw_optimizer.lr_warmup_steps": warmup,
            "--optimizer.adamw_optimizer.lr_decay_steps": steps,
            "--optimizer.adamw_optimizer.bf16_momentum": "True"}


def alignment(lang: str, root: Path, v: dict, ratio: float, name: str) -> Stage:
    """Causal LM on the language's Wikipedia, its words code-mixed into English at `ratio` (0: naive CLM)."""
    flags = {**easylm(v["llama"], 10000, 300, root / name),
             "--train_dataset.text_processor.fields": "text",
             "--train_dataset.text_processor.codemix_dict_path": f"{v['dicts']}/{lang}-en.txt",
             "--train_dataset.text_processor.codemix_ratio": ratio,
             "--train_dataset.type": "huggingface", "--train_dataset.huggingface_dataset.path": v["wikipedia"],
             "--train_dataset.huggingface_dataset.name": f"{v['wiki_dump']}.{lang}",
             "--train_dataset.huggingface_dataset.seq_length": 512,
             "--train_dataset.huggingface_dataset.batch_size": 16,
             "--update_llama_config": DROPOUT, "--log_freq": 5000, "--resume_from_checkpoint": True}
    return Stage(name, "align", "commit_train.py", flags, output="--logger.output_dir", launch="auto",
                 resources={**SHARDED, "time": "48:00:00"})


def instruction_tuning(lang: str, root: Path, v: dict, variant: str) -> Stage:
    start = {"align_commit": f"align-{lang}", "clm_commit": f"clm-{lang}"}.get(variant)
    codemix = {"--train_dataset.text_processor.codemix_dict_path": f"{v['dicts']}/en-{lang}.txt",
               "--train_dataset.text_processor.codemix_ratio": 0.9,
               "--train_dataset.text_processor.block_codemix_in_template": variant != "naive_codemix"}
    if variant == "naive_alpaca":  # "remove all the settings related to codemix"
        codemix = {}
    codemix = {k: str(x) if isinstance(x, bool) else x for k, x in codemix.items()}
    name = f"{variant}-{lang}"
    flags = {**easylm(str(root / start) if start else v["llama"], 1210, 36, root / name),
             "--train_dataset.text_processor.alpaca": "True", **codemix,
             "--train_dataset.type": "huggingface", "--train_dataset.huggingface_dataset.path": v["alpaca"],
             "--train_dataset.huggingface_dataset.seq_length": 512,
             "--train_dataset.huggingface_dataset.batch_size": 16,
             "--update_llama_config": DROPOUT, "--log_freq": 5000, "--resume_from_checkpoint": True}
    return Stage(name, "tune", "commit_train.py", flags, output="--logger.output_dir", launch="auto",
                 after=(start,) if start else (), resources={**SHARDED, "time": "24:00:00"})


def evaluations(lang: str, root: Path, v: dict, tuned: list[Stage]) -> tuple[list[Stage], list]:
    """XQuAD (and MLQA) with the language's and with English prompt labels, for each variant."""
    stages, missing = [], []
    for task in ("xquad", "mlqa") if v["mlqa"] else ("xquad",):
        for prompt in v["prompts"]:
            code = lang if prompt == "native" else f"en{lang}"
            rows = [f"{task.upper() if task == 'mlqa' else 'XQuAD'} {metric} ({code}, {prompt} prompt)"
                    for metric in ("EM", "F1")]
            reason = task_has(task, code)
            if reason:
                missing += missing_rows(rows, reason)
                continue
            for stage in tuned:
                column = COLUMNS[stage.name.rsplit("-", 1)[0]]
                out = results_file(root, lang, stage.name, f"{task}_{code}")
                flags = {"--model_path": stage.output_path, "--task": task, "--lang": code, "--batch_size": 2,
                         "--device": "cuda", "--output_file": out.with_suffix(".json"),
                         "--log_samples": out.with_suffix(".samples.jsonl")}
                stages.append(eval_stage(f"{task}-{code}-{stage.name}", stage.name, flags,
                                         [Measure(rows[0], column, "qa", "exact_match"),
                                          Measure(rows[1], column, "qa", "f1")], family=task))
    return stages, missing


def build(v: dict, root: Path) -> Recipe:
    stages, evals, missing = [], [], []
    for lang in v["langs"]:
        if "align_commit" in v["variants"]:
            stages.append(alignment(lang, root, v, 0.5, f"align-{lang}"))
        if "clm_commit" in v["variants"]:
            stages.append(alignment(lang, root, v, 0.0, f"clm-{lang}"))
        tuned = [instruction_tuning(lang, root, v, variant) for variant in v["variants"]]
        stages += tuned
        lang_evals, lang_missing = evaluations(lang, root, v, tuned)
        evals += lang_evals
        missing += lang_missing
    stages += evals
    stages.append(Stage("table", "table", "run_recipe.py", {"--out": root, "--only": "table"}, "--out",
                        kind="table", after=tuple(s.name for s in stages), wait="afterany",
                        resources={"time": "00:30:00"}))
    if v["publish_repo"]:
        for lang in v["langs"]:
            name, model = f"publish-{lang}", f"commit-{lang}" if "commit" in v["variants"] else tuned[-1].name
            stages.append(Stage(name, "publish", "run_recipe.py", {"--out": root, "--only": name}, "--published",
                                kind="publish", after=("table", model), resources={"time": "02:00:00"},
                                params={"--model": root / model,
                                        "--hub_repo": v["publish_repo"].replace("{lang}", lang),
                                        "--published": root / "published" / f"{name}.json"}))
    return Recipe("commit", f"COMMIT on {Path(v['llama']).name} for {', '.join(v['langs'])}",
                  __doc__.split("\n\n")[1].replace("\n", " "), stages, dict(v),
                  tuple(COLUMNS[variant] for variant in v["variants"]), tuple(missing))
