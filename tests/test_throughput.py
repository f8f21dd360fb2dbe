"""Training throughput: model FLOPs against a hand count, tokens/s and MFU of a window, the peak table, and
the fields every training stage logs."""
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from langadapt.throughput import StepFlops, Throughput, device_peak_flops, rate_postfix, row_lengths
from langadapt.toy_models import tiny_backpack_config, tiny_gpt2_config, tiny_llama_config

V, P, D, L = 50, 16, 32, 2  # vocabulary, positions, width, layers of the hand-counted models


def test_gpt2_flops_are_six_n_per_token_plus_attention_by_hand():
    model = AutoModelForCausalLM.from_config(tiny_gpt2_config(V, n_positions=P))
    # per layer: 2 layer norms (2d each), qkv (d x 3d + 3d), attention out (d x d + d), fc (d x 4d + 4d),
    # proj (4d x d + d); then the final norm, and the output layer (tied to the token table: counted once)
    per_layer = 2 * 2 * D + (3 * D * D + 3 * D) + (D * D + D) + (4 * D * D + 4 * D) + (4 * D * D + D)
    n = L * per_layer + 2 * D + V * D  # the position table (P x d) and the token lookup are not matmuls
    flops = StepFlops(model)
    assert flops.parameters == n
    rows = [16, 9, 3]  # real lengths of three rows of one padded batch
    assert flops(sum(rows), sum(r * r for r in rows)) == 6 * n * 28 + 12 * L * D * (256 + 81 + 9)


def test_llama_flops_count_the_untied_head_and_grouped_key_values():
    model = AutoModelForCausalLM.from_config(tiny_llama_config(V))
    kv = 2 * (D // 4)  # 2 key/value heads of the 4 heads' width 8
    per_layer = D * D + 2 * D * kv + D * D + 3 * D * 64 + 2 * D
    n = L * per_layer + D + V * D  # final norm, lm_head (untied); the token table excluded
    flops = StepFlops(model)
    assert flops.parameters == n
    assert flops(2 * 8, 2 * 64) == 6 * n * 16 + 12 * L * D * 128


def test_backpack_adds_its_sense_weights_and_sense_sum():
    model = AutoModelForCausalLM.from_config(tiny_backpack_config(V, n_positions=P))
    k = model.config.num_senses
    assert StepFlops(model).per_square == 12 * L * D + 6 * (k + 1) * D


def test_row_lengths_count_real_tokens_only():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    assert row_lengths(mask) == (8, 9 + 1 + 16)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_window_rates_and_mfu_on_a_known_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    model = AutoModelForCausalLM.from_config(tiny_gpt2_config(V, n_positions=P))
    clock = Clock()
    meter = Throughput(model, "cuda:0", "bf16", world_size=2, clock=clock)
    meter.add(4 * 16, 4 * 256)
    meter.add(2 * 16, 2 * 256)
    clock.now += 0.5
    n = StepFlops(model).parameters
    rates = meter.report()
    assert rates["tokens_per_second"] == pytest.approx(96 / 0.5)
    step_flops = 6 * n * 96 + 12 * L * D * 6 * 256
    assert rates["mfu"] == pytest.approx(step_flops / 0.5 / (2 * 989.4e12))
    assert rate_postfix(rates) == {"tok/s": "192", "mfu": f"{100 * rates['mfu']:.1f}%"}
    clock.now += 2.0  # the next window starts empty
    assert meter.report()["tokens_per_second"] == 0


@pytest.mark.parametrize("name, precision, peak", [("NVIDIA H100 PCIe", "bf16", 756.5e12),
                                                   ("NVIDIA H200", "fp32", 66.9e12),
                                                   ("NVIDIA A100-SXM4-80GB", "fp16", 312e12),
                                                   ("Tesla V100-SXM2-32GB", "bf16", None),
                                                   ("NVIDIA Mystery 9000", "bf16", None)])
def test_peak_table(monkeypatch, name, precision, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    found, why = device_peak_flops("cuda", precision)
    assert found == peak
    if peak is None:
        assert why.startswith("no MFU") and name in why


def test_cpu_has_tokens_per_second_and_no_mfu():
    model = AutoModelForCausalLM.from_config(tiny_gpt2_config(V, n_positions=P))
    meter = Throughput(model, "cpu", "fp32")
    meter.add(10, 100)
    rates = meter.report()
    assert rates["tokens_per_second"] > 0 and rates["mfu"] is None
    assert rate_postfix(rates).keys() == {"tok/s"}
    assert device_peak_flops("cpu", "fp32")[0] is None


def test_commit_log_lines_carry_the_rates(tiny_llama_dir, tmp_path):
    from test_commit_train import metrics, run_small

    run_small(tiny_llama_dir, str(tmp_path / "o"), "--total_steps", "4", "--save_steps", "0", "--log_steps", "2")
    train = [r for r in metrics(tmp_path / "o") if r["kind"] == "train"]
    assert [r["step"] for r in train] == [2, 4]
    assert all(r["tokens_per_second"] > 0 and r["mfu"] is None for r in train)


def test_run_clm_writes_rates_to_metrics_jsonl(tiny_gpt2_dir, tmp_path):
    import run_clm
    from test_clm_train import clm_args

    out = tmp_path / "clm"
    assert run_clm.main(clm_args(tiny_gpt2_dir, out, "--do_train", "--max_steps", "4", "--logging_steps", "2",
                                 "--save_strategy", "no")) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [2, 4]
    assert all(r["tokens_per_second"] > 0 and r["mfu"] is None and "loss" in r for r in train)
    assert records[-1]["kind"] == "final"


def test_run_adaptation_counts_both_sides_real_tokens(tiny_backpack_dir, tmp_path):
    import run_adaptation
    from test_adaptation_run import base_args, records

    data = tmp_path / "train.jsonl"
    rows = [("house dog", "nyumba mbwa"), ("quick brown fox", "haraka kahawia mbweha")] * 8
    data.write_text("".join(json.dumps({"translation": {"eng": s, "swh": t}}) + "\n" for s, t in rows))
    save_dir = tmp_path / "run"
    assert run_adaptation.main(base_args(tiny_backpack_dir, {"train": str(data), "flores": None}, save_dir,
                                         **{"--max_steps": "2", "--train_batch_size": "4",
                                            "--validation_file": None})) == 0
    train = records(save_dir, "train")
    assert [r["step"] for r in train] == [1, 2]
    assert all(r["tokens_per_second"] > 0 and r["mfu"] is None for r in train)
