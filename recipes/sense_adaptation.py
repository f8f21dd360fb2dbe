"""Multilinguality as Sense Adaptation: adapt an English Backpack LM to each target language.

Method, per target language L (any FLORES-200 language): build an English-L parallel corpus from OPUS and
HF corpora, filtered by length, language identification and LaBSE similarity (100k pairs); optionally
(re)train the English Backpack on OpenWebText first; sense-adapt it to L with the staged contrastive
(context and sense InfoNCE) + LM losses; evaluate the base and the adapted model on FLORES-200 perplexity
and on XCOPA, XStoryCloze, Belebele and Tatoeba retrieval where their data has L; analyse what adaptation
did to the senses (topology, Procrustes, mutual information, sense collapse). The flags are the seed
README's (sensia), the resources the ones slurm/ uses.
"""
from __future__ import annotations

from pathlib import Path

from langadapt.languages import get_language
from langadapt.recipes import Measure, Recipe, Stage
from langadapt.recipes.build import eval_stage, missing_rows, results_file, task_has

VARIABLES = {
    "langs": ["swh"],  # target languages, any code form (swh, sw, swh_Latn)
    "base_model": "jcblaise/backpack-gpt2-small",  # the English Backpack adapted (unless retune)
    "retune": False,  # first train the English Backpack with run_clm.py (its output becomes base_model)
    "tasks": ["xcopa", "xstorycloze", "belebele", "tatoeba_retrieval"],
    "flores": "",  # FLORES source for perplexity and analyses (empty: the scripts' default, the hub's)
    "hub_repo": "",  # push each corpus there (--upload_data) and adapt from it, as the authors did
    "analyses": True,
    "publish_repo": "",  # e.g. <user>/backpack-gpt2-small-{lang}: push each adapted model with a model card
}
GPU = {"nodes": 1, "gpus-per-node": 1, "cpus-per-gpu": 8}
TASK_ROWS = {"xcopa": [("XCOPA acc", "acc")], "xstorycloze": [("XStoryCloze acc", "acc")],
             "belebele": [("Belebele acc", "acc")],
             "tatoeba_retrieval": [("Tatoeba R@1 eng->L", "recall@1_src2tgt"),
                                   ("Tatoeba R@1 L->eng", "recall@1_tgt2src")]}


def corpus(lang: str, root: Path, v: dict) -> Stage:
    data = root / "data-output"
    flags = {"--src": "eng", "--tgt": lang, "--hf_out": data / f"en-{lang}-hf",
             "--work_dir": data / "work-dir" / f"en-{lang}",
             "--corpora": ["CCMatrix", "CCAligned", "JW300", "GlobalVoices", "QED", "OpenSubtitles", "TED2013",
                           "TED2020", "WikiMatrix", "WikiTitles"],
             "--hf_corpora": ["allenai/nllb", "allenai/wmt22_african"], "--hf_corpora_split": "train",
             "--max_per_corpus": 500000, "--batch_size": 2048, "--min_len": 3, "--max_len": 256,
             "--len_ratio_low": 0.45, "--len_ratio_high": 2.0, "--labse_threshold": 0.74, "--target_size": 100000,
             "--opus_download_dir": data / "opus_cache", "--log_level": "INFO"}
    if v["hub_repo"]:
        flags.update({"--upload_data": True, "--config_name": f"eng-{lang}-100k", "--hub_repo": v["hub_repo"]})
    return Stage(f"corpus-{lang}", "corpus", "build_opus_corpus.py", flags, output="--hf_out", kind="corpus",
                 resources={**GPU, "cpus-per-gpu": 16, "mem": "64G", "time": "24:00:00"})


def retune(root: Path) -> Stage:
    flags = {"--model_name_or_path": "configs/backpack-gpt2-small", "--config_name": "configs/backpack-gpt2-small",
             "--tokenizer_name": "gpt2", "--dataset_name": "Skylion007/openwebtext",
             "--per_device_train_batch_size": 64, "--per_device_eval_batch_size": 64, "--bf16": True,
             "--gradient_accumulation_steps": 32, "--warmup_ratio": 0.1, "--weight_decay": 0.01,
             "--do_train": True, "--do_eval": True, "--output_dir": root / "backpack-clm", "--max_steps": 300000,
             "--block_size": 512, "--report_to": "wandb", "--run_name": "backpack-clm", "--logging_steps": 32,
             "--save_steps": 512, "--save_total_limit": 5}
    return Stage("retune", "retune", "run_clm.py", flags, output="--output_dir", launch="auto",
                 resources={**GPU, "time": "48:00:00"}, env={"WANDB_PROJECT": "langadapt"})


def adaptation(lang: str, root: Path, v: dict, base: str, after: tuple[str, ...]) -> Stage:
    dataset = {"--dataset_name": v["hub_repo"], "--dataset_config": f"eng-{lang}-100k"} if v["hub_repo"] else \
        {"--dataset_name": root / "data-output" / f"en-{lang}-hf"}
    flags = {"--model_id": base, "--max_length": 256, **dataset, "--dataset_split": "train",
             "--src": "eng", "--tgt": lang, "--normalize_sense_pooling": True, "--normalize_last_token_embeds": True,
             "--add_lm_loss": True, "--learning_rate": 5e-5, "--train_batch_size": 64, "--test_batch_size": 64,
             "--warmup_ratio": 0.02, "--clip_grad_norm": 1.0, "--label_smoothing": 0.05, "--sense_pool_temp": 0.7,
             "--align_pct": 0.20, "--polish_pct": 0.50,
             "--w_ctx_align": 0.45, "--w_sns_align": 0.55, "--w_lm_align": 0.02,
             "--w_ctx_mid": 0.40, "--w_sns_mid": 0.40, "--w_lm_mid": 0.20,
             "--w_ctx_tail": 0.15, "--w_sns_tail": 0.15, "--w_lm_tail": 0.70,
             "--tau_ctx_start": 0.07, "--tau_ctx_end": 0.07, "--tau_sns_start": 0.05, "--tau_sns_end": 0.05,
             "--use_fp16": True, "--max_steps": 150000, "--eval_every_n_steps": 2000, "--save_every": 2000,
             "--max_checkpoints": 1, "--log_every_n_steps": 100, "--resume_from_checkpoint": True,
             "--save_dir": root / f"adapt-{lang}", "--use_wandb": True, "--wandb_run_name": f"adapt-{lang}",
             "--seed": 1234}
    measures = [Measure(f"FLORES dev R@1, {name} (run_adaptation eval) ({lang})", column, "adaptation_eval", key)
                for name, key in (("context", "ctx_r1_avg"), ("senses", "sns_r1_avg"))
                for column in ("base", "adapted")]
    return Stage(f"adapt-{lang}", "adapt", "run_adaptation.py", flags, output="--save_dir", after=after,
                 launch="auto", resources={**GPU, "time": "48:00:00"}, env={"WANDB_PROJECT": "langadapt"},
                 measures=tuple(measures))


def evaluations(lang: str, root: Path, v: dict, models: dict[str, tuple[str, str]]) -> tuple[list[Stage], list]:
    """FLORES perplexity and each task with the language, for every model; the rows of the tasks without it."""
    tag, stages, missing = get_language(lang).flores, [], []
    for column, (model, after) in models.items():
        out = results_file(root, lang, column)
        flores = {"--model_path": model, "--lang": tag, "--split": "devtest", "--batch_size": 64,
                  "--max_length": 256, "--device": "cuda", "--fp16": True, "--output_file": out / "flores_ppl.json"}
        if v["flores"]:
            flores["--dataset"] = v["flores"]
        stages.append(Stage(f"flores-{column}-{lang}", "flores", "run_flores_ppl.py", flores, "--output_file",
                            kind="eval", after=(after,) if after else (), resources={**GPU, "time": "04:00:00"},
                            measures=(Measure(f"FLORES devtest perplexity ({tag})", column, "flores", "perplexity"),
                                      Measure(f"FLORES devtest bits/byte ({tag})", column, "flores", "bits_per_byte"))))
        for task in v["tasks"]:
            rows = [(f"{label.replace('L', lang) if 'Tatoeba' in label else label} ({lang})", key)
                    for label, key in TASK_ROWS[task]]
            reason = task_has(task, lang)
            if reason:
                missing += missing_rows([row for row, _ in rows], reason) if column == "base" else []
                continue
            flags = {"--model_path": model, "--task": task, "--lang": lang, "--split": "test", "--batch_size": 64,
                     "--fp16": True, "--output_file": out / f"{task}.json"}
            if task == "tatoeba_retrieval":
                flags["--tatoeba_dir"] = "both"
            stages.append(eval_stage(f"{task}-{column}-{lang}", after, flags,
                                     [Measure(row, column, "proportion", key) for row, key in rows], family=task))
    return stages, missing


def analyses(lang: str, root: Path, v: dict, model: Path, after: str) -> list[Stage]:
    tag, out = get_language(lang).flores, root / "analyses" / lang
    dataset = {"--dataset": v["flores"]} if v["flores"] else {}
    topology = {"--model": model, "--src": "eng_Latn", "--tgt": tag, "--split": "devtest", "--out_dir": out,
                "--batch_size": 64, "--jsd_seed": 0, "--do_sense_topology": True, "--do_procrustes": True,
                "--do_mutual_information": True, "--do_sense_visualizations": True, "--viz_types_k": 20, **dataset}
    collapse = {"--ckpt": model, "--lang": tag, "--split": "devtest", "--batch-size": 8, "--max-len": 192,
                "--compute-entropy": True, "--compute-offcos": True, "--inference-topk": 1,
                "--output-file": root / "analyses" / f"sense_collapse_{lang}.json", **dataset}
    return [Stage(f"senses-{lang}", "senses", "run_ablations.py", topology, "--out_dir", kind="analysis",
                  after=(after,), resources={**GPU, "time": "04:00:00"}),
            Stage(f"collapse-{lang}", "collapse", "run_ablation_sense_collapse.py", collapse, "--output-file",
                  kind="analysis", after=(after,), resources={**GPU, "time": "04:00:00"})]


def build(v: dict, root: Path) -> Recipe:
    langs = [get_language(code, "--set langs").iso3 for code in v["langs"]]
    stages, missing, evals = [], [], []
    base, base_after = str(v["base_model"]), ""
    if v["retune"]:
        stages.append(retune(root))
        base, base_after = str(root / "backpack-clm"), "retune"
    for lang in langs:
        stages.append(corpus(lang, root, v))
        adapt = adaptation(lang, root, v, base, tuple(n for n in (f"corpus-{lang}", base_after) if n))
        stages.append(adapt)
        lang_evals, lang_missing = evaluations(lang, root, v, {"base": (base, base_after),
                                                               "adapted": (str(adapt.output_path), adapt.name)})
        evals += lang_evals
        missing += lang_missing
        if v["analyses"]:
            evals += analyses(lang, root, v, adapt.output_path, adapt.name)
    stages += evals
    table = Stage("table", "table", "run_recipe.py", {"--out": root, "--only": "table"}, "--out", kind="table",
                  after=tuple(s.name for s in stages), resources={"time": "00:30:00"}, wait="afterany")
    stages.append(table)
    if v["publish_repo"]:
        for lang in langs:
            name = f"publish-{lang}"
            stages.append(Stage(name, "publish", "run_recipe.py", {"--out": root, "--only": name}, "--published",
                                kind="publish", after=("table", f"adapt-{lang}"), resources={"time": "02:00:00"},
                                params={"--model": root / f"adapt-{lang}",
                                        "--hub_repo": v["publish_repo"].replace("{lang}", lang),
                                        "--published": root / "published" / f"{name}.json"}))
    return Recipe("sense_adaptation", f"Sense adaptation of {Path(base).name} to {', '.join(langs)}",
                  __doc__.split("\n\n")[1].replace("\n", " "), stages, dict(v), ("base", "adapted"), tuple(missing))
