"""One GPU check of the speeds users train and filter at, ready before a GPU is: prints one JSON object and
writes it to `--out` (default gpu_check.json). Sized for at most 8 minutes on one H100/H200:

- environment: device, torch / CUDA / transformers versions, the load average;
- backpack: Backpack-GPT2 small (768 wide, 12 layers, 16 senses, L=512) forward+backward tokens/s, MFU and
  peak memory, bf16 weights, for the eager and fused sense paths and the default, with `--original PATH`
  pyvene's modelings_backpack_gpt2.py beside them; greedy generation tokens/s with the cache
  (`bench_backpack.py` in its own processes, so each peak memory is its own);
- commit: a ~1B Llama (TinyLlama's shape, random weights) through the real COMMIT loop on code-mixed Alpaca
  rows at seq 512, bf16: tokens/s and MFU from the loop's own metrics.jsonl (its last log window) and peak
  memory, FCM on and off, torch.compile on and off; then FSDP2 (`fully_shard`) on NCCL with one process;
- labse: a LaBSE-shaped encoder (BERT-base, 501,153-row vocabulary, CLS pooling, dense, normalise; random
  weights) through the corpus builder's `SentenceEncoder`: pairs/s in fp16 and fp32, and how many of 10k
  threshold decisions at 0.74 flip between them (random weights put few pairs near the threshold, so the
  JSON says how many lie within the largest fp16-fp32 difference of it);
- scoring: XCOPA and Belebele examples/s of `run_eval --prompt_format harness` against lm-eval's `hf` model
  on the same GPU, batch size and fp16 model (`harness_parity.py`); needs lm-eval, which the GPU image lacks.

A section that fails records its error and the rest still run. MFU uses `langadapt/throughput.py`'s model
FLOPs (6N + attention) over the device's dense peak. `--smoke` runs every section at tiny shapes on CPU (the
test suite does, so the script cannot rot). Packages the GPU image lacks (datasets, lm-eval, and their needs)
travel as wheels: see the device README.

    python benchmarks/gpu_check.py --out $OUT/gpu_check.json [--original /path/to/modelings_backpack_gpt2.py]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLD = 0.74
REAL = {
    "backpack": ["--shape", "real", "--device", "cuda", "--dtype", "bfloat16", "--tokens_per_step", "8192",
                 "--steps", "10", "--new_tokens", "64", "--repeats", "1"],
    "llama": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                  num_key_value_heads=4, vocab_size=32000),
    "commit": dict(seq_length=512, batch_size=8, steps=30, log_steps=10),
    "bert": dict(vocab_size=501153, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512),
    "labse": dict(pairs=10000, batch_size=256),
    "scoring": ["--sizes", "12x768:400", "--vocab_size", "50257", "--repeats", "2", "--batch_size", "32",
                "--exclude_harness_startup"],
}
SMOKE = {
    "backpack": ["--shape", "narrow", "--width", "16", "--layers", "1", "--heads", "2", "--senses", "4",
                 "--vocab", "64", "--scale", "2", "--lengths", "64", "--tokens_per_step", "64", "--steps", "1",
                 "--prompt_len", "8", "--new_tokens", "4", "--repeats", "1", "--in_process"],
    "llama": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=2000),
    "commit": dict(seq_length=32, batch_size=2, steps=2, log_steps=1),
    "bert": dict(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, max_position_embeddings=128),
    "labse": dict(pairs=64, batch_size=32),
    "scoring": ["--sizes", "2x32:8", "--repeats", "1", "--batch_size", "8", "--exclude_harness_startup"],
}


# ------------------------------------------------------------------------------------------ environment
def environment(args, shapes) -> dict:
    import torch
    import transformers

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
            "python": sys.version.split()[0], "cpu_count": os.cpu_count(), "load_1_5_15": list(os.getloadavg())}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=torch.cuda.get_device_name(0), capability=f"{props.major}.{props.minor}",
                    memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
                    cudnn=torch.backends.cudnn.version())
    else:
        info["device"] = "cpu"
    return info


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def peak(precision: str):
    from langadapt.throughput import device_peak_flops

    return device_peak_flops(device_name(), precision)[0]


# --------------------------------------------------------------------------------------------- backpack
def backpack(args, shapes) -> dict:
    """bench_backpack.py's figures (its own processes) with MFU added from the model's FLOPs."""
    import torch

    from langadapt.backpack import BackpackGPT2Config, BackpackGPT2LMHeadModel
    from langadapt.throughput import StepFlops

    command = [sys.executable, str(ROOT / "benchmarks/bench_backpack.py"), *shapes["backpack"]]
    if args.smoke:
        command += ["--device", "cpu", "--dtype", "float32"]
    if args.original:
        command += ["--original", args.original]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"bench_backpack.py failed: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    config = report["config"]
    with torch.device("meta"):
        model = BackpackGPT2LMHeadModel(BackpackGPT2Config(
            vocab_size=config["vocab"], n_positions=512, n_embd=config["width"], n_layer=config["layers"],
            n_head=config["heads"], num_senses=config["senses"], sense_intermediate_scale=config["scale"]))
    flops = StepFlops(model)
    top = peak("bf16" if config["dtype"] == "bfloat16" else "fp32")
    for name, row in report["train"].items():
        length = int(name[1:])
        per_token = flops(length, length * length) / length
        for variant in ("original", "eager", "fused", "default"):
            if variant in row:
                row[variant]["mfu"] = row[variant]["tokens_per_s"] * per_token / top if top else None
    return report


# ----------------------------------------------------------------------------------------------- commit
def llama_folder(work: Path, shapes) -> str:
    from langadapt.toy_models import save_tiny_model, tiny_llama_config, train_byte_bpe_tokenizer

    records = json.loads((ROOT / "examples/data/alpaca_sample.json").read_text(encoding="utf-8"))
    texts = [r["instruction"] + " " + r["input"] + " " + r["output"] for r in records]
    tokenizer = train_byte_bpe_tokenizer(texts * 4, vocab_size=2000)
    fields = dict(shapes["llama"])
    config = tiny_llama_config(max(fields.pop("vocab_size"), len(tokenizer)),
                               max_position_embeddings=shapes["commit"]["seq_length"], **fields)
    return save_tiny_model(config, tokenizer, work / "llama")


def commit_args(model: str, out: Path, shapes, fcm: float, smoke: bool, steps: int):
    from langadapt.commit.args import parse_args

    shape = shapes["commit"]
    return parse_args([
        "--model_name_or_path", model, "--dataset_name", str(ROOT / "examples/data/alpaca_sample.json"),
        "--codemix_dict_path", str(ROOT / "dicts/sample/en-hi.txt"), "--seq_length", str(shape["seq_length"]),
        "--batch_size", str(shape["batch_size"]), "--total_steps", str(steps), "--save_steps", "0",
        "--log_steps", str(shape["log_steps"]), "--fcm_max_ratio", str(fcm), "--output_dir", str(out),
        "--overwrite_output_dir", "--log_level", "WARNING", *([] if smoke else ["--bf16"])])


def reset_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib():
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def loop_run(model: str, out: Path, shapes, fcm: float, compiled: bool, smoke: bool) -> dict:
    """One run of the real loop; its last log window's tokens/s and MFU (the first holds compilation)."""
    import torch

    from langadapt.commit import loop

    real_load = loop.load_training_model

    def load_compiled(args):
        model, config = real_load(args)
        model.forward = torch.compile(model.forward, backend="eager" if smoke else "inductor")
        return model, config

    reset_memory()
    loop.load_training_model = load_compiled if compiled else real_load
    try:
        loop.train(commit_args(model, out, shapes, fcm, smoke, shapes["commit"]["steps"]))
    finally:
        loop.load_training_model = real_load
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in train if r["kind"] == "train"][-1]
    return {"tokens_per_s": round(last["tokens_per_second"], 1), "mfu": last["mfu"],
            "peak_mem_mib": peak_memory_mib(), "fcm_max_ratio": fcm, "torch_compile": compiled}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fsdp_run(model: str, work: Path, shapes, smoke: bool) -> dict:
    """FSDP2 on one process (NCCL on a GPU, gloo on CPU): the loop's own set-up, loss and optimiser, steps
    timed after a warm-up (the loop itself shards only with several processes)."""
    import torch
    import torch.distributed as dist

    from langadapt.commit.fcm import ForgetfulCausalMask
    from langadapt.commit.optim import build_optimizer, masked_row_mean_loss
    from langadapt.commit.setup import build_mixer, build_stream, load_training_model, load_training_tokenizer
    from langadapt.distributed import shard_model
    from langadapt.throughput import StepFlops

    device = device_name()
    args = commit_args(model, work / "fsdp", shapes, 0.1, smoke, shapes["commit"]["steps"])
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
                            rank=0, world_size=1)
    try:
        tokenizer = load_training_tokenizer(args)
        net, _ = load_training_model(args)
        flops = StepFlops(net)
        reset_memory()
        net = shard_model(net.to(device), device, torch.bfloat16 if device == "cuda" else None)
        optimizer = build_optimizer(net, args.lr, args.b1, args.b2, args.weight_decay, args.bf16_momentum)
        stream = build_stream(args, tokenizer, 0, 1, build_mixer(args))
        fcm = ForgetfulCausalMask(args.fcm_min_ratio, args.fcm_max_ratio, net.config._attn_implementation)
        net.train()

        def step():
            batch = {k: v.to(device) for k, v in stream.next_rows(args.batch_size).items()}
            logits = net(input_ids=batch["input_ids"], attention_mask=fcm(batch["input_ids"], training=True),
                         use_cache=False).logits
            masked_row_mean_loss(logits, batch["targets"], batch["loss_mask"]).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        for _ in range(2):
            step()
        steps = shapes["commit"]["log_steps"]
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        tokens = steps * args.batch_size * args.seq_length
        top = peak("bf16")
        return {"backend": dist.get_backend(), "tokens_per_s": round(tokens / seconds, 1),
                "mfu": flops(tokens, tokens * args.seq_length) / seconds / top if top and device == "cuda" else None,
                "peak_mem_mib": peak_memory_mib(), "fcm_max_ratio": args.fcm_max_ratio}
    finally:
        dist.destroy_process_group()


def commit(args, shapes) -> dict:
    work = Path(tempfile.mkdtemp(prefix="gpu-check-commit-"))
    model = llama_folder(work, shapes)
    from langadapt.throughput import matmul_parameters
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    result = {"config": {k: getattr(config, k) for k in shapes["llama"]} | shapes["commit"], "runs": {}}
    for compiled in (False, True):
        for fcm in (0.0, 0.1):
            name = f"fcm_{'on' if fcm else 'off'}_compile_{'on' if compiled else 'off'}"
            result["runs"][name] = loop_run(model, work / name, shapes, fcm, compiled, args.smoke)
    result["fsdp2_one_process"] = fsdp_run(model, work, shapes, args.smoke)
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        result["config"]["matmul_parameters"] = matmul_parameters(AutoModelForCausalLM.from_config(config))
    return result


# ------------------------------------------------------------------------------------------------ labse
def encoder_folder(work: Path, texts: list[str], shapes) -> str:
    """A LaBSE-shaped sentence-transformers folder: BERT, CLS pooling, a tanh dense layer, normalisation."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = BertWordPieceTokenizer(lowercase=False)
    wordpiece.train_from_iterator(texts, vocab_size=3000)
    folder = work / "bert"
    folder.mkdir(parents=True)
    wordpiece.save_model(str(folder))
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=False).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(**shapes["bert"])).save_pretrained(folder)
    width = shapes["bert"]["hidden_size"]
    encoder = models.Transformer(str(folder), max_seq_length=128)
    modules = [encoder, models.Pooling(width, pooling_mode="cls"),
               models.Dense(width, width, activation_function=torch.nn.Tanh()), models.Normalize()]
    target = work / "labse-shaped"
    SentenceTransformer(modules=modules, device="cpu").save(str(target))
    return str(target)


def sentence_pairs(count: int) -> tuple[list[str], list[str]]:
    import zipfile

    with zipfile.ZipFile(ROOT / "examples/data/opus/DemoNews_latest_moses_en-sw.txt.zip") as archive:
        english = archive.read("DemoNews.en-sw.en").decode("utf-8").splitlines()
        swahili = archive.read("DemoNews.en-sw.sw").decode("utf-8").splitlines()
    pairs = [(e, s) for e, s in zip(english, swahili) if e.strip() and s.strip()]
    rows = [pairs[i % len(pairs)] for i in range(count)]
    return [e for e, _ in rows], [s for _, s in rows]


def timed_similarities(encoder, src, tgt) -> tuple:
    import numpy as np
    import torch

    encoder.similarities(src[:64], tgt[:64])  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    sims = encoder.similarities(src, tgt)
    return np.asarray(sims, dtype=np.float64), len(src) / (time.perf_counter() - start)


def labse(args, shapes) -> dict:
    import numpy as np

    from langadapt.corpus.labse import SentenceEncoder

    src, tgt = sentence_pairs(shapes["labse"]["pairs"])
    folder = encoder_folder(Path(tempfile.mkdtemp(prefix="gpu-check-labse-")), src + tgt, shapes)
    encoder = SentenceEncoder(folder, shapes["labse"]["batch_size"])  # fp16 on a GPU: the builder's own path
    if device_name() == "cpu":
        encoder.model.half()  # the smoke run exercises the same comparison on CPU
    sims16, rate16 = timed_similarities(encoder, src, tgt)
    encoder.close()
    full = SentenceEncoder(folder, shapes["labse"]["batch_size"])
    full.model.float()  # loaded again from the fp32 files: not the fp16-rounded weights cast back
    sims32, rate32 = timed_similarities(full, src, tgt)
    full.close()
    gap = np.abs(sims16 - sims32)
    flips = int(((sims16 >= THRESHOLD) != (sims32 >= THRESHOLD)).sum())
    return {"pairs": len(src), "pairs_per_s_fp16": round(rate16, 1), "pairs_per_s_fp32": round(rate32, 1),
            "fp16_speedup": round(rate16 / rate32, 2), "threshold": THRESHOLD, "decisions_flipped": flips,
            "max_abs_similarity_diff": float(gap.max()), "mean_abs_similarity_diff": float(gap.mean()),
            "pairs_within_max_diff_of_threshold": int((np.abs(sims32 - THRESHOLD) <= gap.max()).sum()),
            "similarity_quantiles_fp32": [round(float(q), 4) for q in np.quantile(sims32, [0, .05, .5, .95, 1])]}


# ---------------------------------------------------------------------------------------------- scoring
def scoring(args, shapes) -> dict:
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        return {"skipped": "lm-eval is not installed here: carry lm-eval==0.4.13 and its needs as wheels"}
    from benchmarks import harness_parity

    return harness_parity.measure(harness_parity.parse(
        [*shapes["scoring"], "--tasks", "xcopa", "belebele", "--device", device_name()]))


SECTIONS = {"environment": environment, "backpack": backpack, "commit": commit, "labse": labse,
            "scoring": scoring}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every section at tiny shapes, on CPU")
    parser.add_argument("--out", default="gpu_check.json", help="where the JSON is written too")
    parser.add_argument("--original", help="pyvene's modelings_backpack_gpt2.py, measured beside ours")
    parser.add_argument("--sections", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    args = parser.parse_args(argv)
    if args.original and not os.path.isfile(args.original):
        parser.error(f"--original {args.original}: no such file")
    if args.smoke:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch sees a device: the smoke run is CPU-only
    shapes = SMOKE if args.smoke else REAL
    report = {"smoke": args.smoke}
    for name in args.sections:
        start = time.perf_counter()
        try:
            report[name] = SECTIONS[name](args, shapes)
        except Exception as err:  # one broken section must not cost the others' GPU minutes
            report[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-3000:]}
        report[name + "_seconds"] = round(time.perf_counter() - start, 1)
    report["load_1min_after"] = os.getloadavg()[0]
    text = json.dumps(report, indent=2, default=str)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return report


if __name__ == "__main__":
    main()
