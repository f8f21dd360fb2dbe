"""commit_train.py --fsdp: FSDP2 on two CPU processes (gloo) trains what DDP trains, saves full weights and
per-process optimiser shards, and resumes exactly; the pieces it is built from."""
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from langadapt.distributed import build_accelerator, layers_to_shard
from langadapt.errors import LangAdaptError
from langadapt.training import COMPLETE_MARKER, CheckpointManager
from killed_runs import as_killed_after
from test_commit_train import FINAL_FILES, metrics, torchrun_commit

# 4 steps, a checkpoint after 2; the clip threshold is above this model's gradient norms (the sharded norm is
# still computed), so DDP and FSDP apply the same updates bit for bit
RUN = ["--seq_length", "64", "--total_steps", "4", "--save_steps", "2", "--log_steps", "1", "--lr", "3e-3",
       "--warmup_steps", "1", "--lr_decay_steps", "4", "--clip_grad_norm", "100"]


def train_log(folder):
    return [record for record in metrics(folder) if record["kind"] == "train"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_fsdp_on_two_processes_saves_full_weights_matches_ddp_and_resumes_exactly(tiny_llama_dir, tmp_path):
    ddp, fsdp, resumed = tmp_path / "ddp", tmp_path / "fsdp", tmp_path / "resumed"
    torchrun_commit(tiny_llama_dir, ddp, *RUN)
    torchrun_commit(tiny_llama_dir, fsdp, *RUN, "--fsdp")

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    trained = AutoModelForCausalLM.from_pretrained(fsdp)  # the gathered, unsharded model
    assert {n: p.shape for n, p in trained.named_parameters()} == {n: p.shape for n, p in base.named_parameters()}
    assert not torch.equal(trained.model.embed_tokens.weight, base.model.embed_tokens.weight)
    assert (fsdp / "tokenizer.json").is_file()

    checkpoint = fsdp / "checkpoints" / "step-000000000002"
    assert "optimizer" not in CheckpointManager.load_training_state(checkpoint)
    shards = [CheckpointManager.load_process_state(checkpoint, rank)["optimizer"]["state"] for rank in (0, 1)]
    embedding_rows = base.model.embed_tokens.weight.shape[0]  # parameter 0 of the decayed group
    assert [shard[0]["exp_avg"].shape[0] for shard in shards] == [embedding_rows // 2] * 2
    assert not torch.equal(shards[0][0]["exp_avg"], shards[1][0]["exp_avg"])

    assert same_weights(load_file(ddp / "model.safetensors"), load_file(fsdp / "model.safetensors"))
    for want, got in zip(train_log(ddp), train_log(fsdp)):
        assert got["loss"] == want["loss"] and got["grad_norm"] == pytest.approx(want["grad_norm"], rel=1e-5)

    as_killed_after(fsdp, resumed, 2, FINAL_FILES)
    torchrun_commit(tiny_llama_dir, resumed, *RUN, "--fsdp", "--resume_from_checkpoint")
    assert same_weights(load_file(fsdp / "model.safetensors"), load_file(resumed / "model.safetensors"))
    assert [r["loss"] for r in train_log(resumed)] == [r["loss"] for r in train_log(fsdp)]


def test_fsdp_units_are_the_decoder_layers(tiny_llama_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    assert layers_to_shard(model) == list(model.model.layers)
    with pytest.raises(LangAdaptError, match="--fsdp: Linear names no decoder layer class"):
        layers_to_shard(torch.nn.Linear(2, 2))


def test_accelerate_fsdp_config_is_refused_with_the_flag_to_use(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(LangAdaptError, match="pass --fsdp"):
        build_accelerator()


def test_checkpoint_with_process_files_counts_only_once_finished(tiny_llama_dir, tmp_path):
    manager = CheckpointManager(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    manager.start(3)
    manager.save_process_state(3, 1, {"optimizer": {"x": torch.arange(3)}})
    assert manager.latest() is None  # a job killed here leaves nothing resumable
    gathered = {name: torch.full_like(tensor, 0.5) for name, tensor in model.state_dict().items()}
    final = manager.finish(3, model, {"step": 3}, state_dict=gathered)
    assert manager.latest() == final and (final / COMPLETE_MARKER).is_file()
    assert torch.equal(CheckpointManager.load_process_state(final, 1)["optimizer"]["x"], torch.arange(3))
    assert all(torch.all(t == 0.5) for t in load_file(final / "model.safetensors").values())
    with pytest.raises(LangAdaptError, match="process-00000.pt is missing"):
        CheckpointManager.load_process_state(final, 0)
