"""Read EasyLM LLaMA checkpoints without JAX and write them as Hugging Face Llama checkpoints.

EasyLM's StreamingCheckpointer writes a stream of msgpack pairs (key path, flax `to_bytes(array)`), where
an array is msgpack ext type 1 holding (shape, dtype name, raw C-order bytes); `flax_params` checkpoints are
one msgpack map of such arrays. The conversion is EasyLM's `convert_easylm_to_hf`: kernels transposed (norms
excepted), the query/key rows permuted from EasyLM's interleaved rotary layout to `rotate_half`'s, and the
tokenizer files written as its `write_tokenizer` does.
"""
from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

from ..errors import LangAdaptError

# EasyLM convert_easylm_to_hf's sizes, EasyLM llama_model's "debug", and "tiny" for fixtures and tests.
MODEL_SIZES = {
    "tiny": dict(dim=32, intermediate_size=64, n_layers=2, n_heads=4, norm_eps=1e-6),
    "debug": dict(dim=128, intermediate_size=256, n_layers=2, n_heads=4, norm_eps=1e-6),
    "1b": dict(dim=2048, intermediate_size=5504, n_layers=22, n_heads=16, norm_eps=1e-6),
    "3b": dict(dim=3200, intermediate_size=8640, n_layers=26, n_heads=32, norm_eps=1e-6),
    "7b": dict(dim=4096, intermediate_size=11008, n_layers=32, n_heads=32, norm_eps=1e-6),
    "13b": dict(dim=5120, intermediate_size=13824, n_layers=40, n_heads=40, norm_eps=1e-6),
    "30b": dict(dim=6656, intermediate_size=17920, n_layers=60, n_heads=52, norm_eps=1e-6),
    "65b": dict(dim=8192, intermediate_size=22016, n_layers=80, n_heads=64, norm_eps=1e-5),
}
LOAD_TYPES = ("params", "trainstate_params", "flax_params")
NDARRAY_EXT = 1  # flax.serialization._MsgpackExtType.ndarray


def _array(data: bytes):
    """A flax-serialised ndarray as a torch tensor (bfloat16 read by torch, which numpy cannot)."""
    import msgpack
    import numpy as np
    import torch

    shape, dtype, buffer = msgpack.unpackb(data, raw=True)
    if dtype == b"bfloat16":
        tensor = torch.frombuffer(bytearray(buffer), dtype=torch.bfloat16)
    else:
        tensor = torch.from_numpy(np.frombuffer(buffer, dtype=np.dtype(dtype.decode())).copy())
    return tensor.reshape(tuple(shape))


def _ext_hook(code: int, data: bytes):
    if code != NDARRAY_EXT:
        raise LangAdaptError(f"msgpack extension type {code} is not an array; only parameter checkpoints convert")
    return _array(data)


def _flatten(tree: dict, prefix: tuple = ()) -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + (key,)))
        else:
            flat[prefix + (key,)] = value
    return flat


def resolve_checkpoint(spec: str) -> tuple[str, Path]:
    """`type::path` (the path may be a glob matching one file), as EasyLM's --load_checkpoint."""
    load_type, sep, pattern = spec.partition("::")
    if not sep or load_type not in LOAD_TYPES:
        raise LangAdaptError(f"--load_checkpoint {spec}: expected TYPE::PATH with TYPE one of {', '.join(LOAD_TYPES)}, "
                             f"e.g. params::OUT/*/streaming_params_1210")
    matches = sorted(glob.glob(pattern))
    if len(matches) != 1:
        found = "no file" if not matches else f"{len(matches)} files ({', '.join(matches[:3])})"
        raise LangAdaptError(f"--load_checkpoint {spec}: the path matches {found}; it must match exactly one")
    return load_type, Path(matches[0])


def read_easylm_params(load_type: str, path: Path) -> dict[str, "torch.Tensor"]:
    """The parameters as {"transformer.h.0.attention.wq.kernel": tensor, ...} (EasyLM's dotted names)."""
    import msgpack

    try:
        with open(path, "rb") as handle:
            if load_type == "flax_params":
                flat = _flatten(msgpack.unpackb(handle.read(), ext_hook=_ext_hook, raw=False))
            else:
                flat = {tuple(key): msgpack.unpackb(value, ext_hook=_ext_hook, raw=False)
                        for key, value in msgpack.Unpacker(handle, raw=False, max_buffer_size=0)}
    except (msgpack.UnpackException, ValueError, TypeError) as err:
        raise LangAdaptError(f"--load_checkpoint {path}: not an EasyLM msgpack checkpoint ({err})") from None
    if load_type == "trainstate_params":
        flat = {key[2:]: value for key, value in flat.items() if key[:2] == ("params", "params")}
    if flat and all(key[0] == "params" for key in flat):  # a flax_params file keeps the outer "params"
        flat = {key[1:]: value for key, value in flat.items()}
    return {".".join(key): value for key, value in flat.items()}


def hf_state_dict(params: dict, size: dict) -> dict:
    """EasyLM LLaMA parameters renamed, transposed and permuted into LlamaForCausalLM's state dict."""
    dim, heads = size["dim"], size["n_heads"]

    def kernel(name):
        return params[name].float().T.contiguous()

    def permute(w):  # EasyLM's interleaved rotary pairs -> rotate_half's halves
        return w.view(heads, dim // heads // 2, 2, dim).transpose(1, 2).reshape(dim, dim)

    state = {"model.embed_tokens.weight": params["transformer.wte.embedding"].float(),
             "model.norm.weight": params["transformer.ln_f.kernel"].float(),
             "lm_head.weight": kernel("lm_head.kernel")}
    for i in range(size["n_layers"]):
        src, dst = f"transformer.h.{i}.", f"model.layers.{i}."
        state.update({
            dst + "self_attn.q_proj.weight": permute(kernel(src + "attention.wq.kernel")),
            dst + "self_attn.k_proj.weight": permute(kernel(src + "attention.wk.kernel")),
            dst + "self_attn.v_proj.weight": kernel(src + "attention.wv.kernel"),
            dst + "self_attn.o_proj.weight": kernel(src + "attention.wo.kernel"),
            dst + "mlp.gate_proj.weight": kernel(src + "feed_forward.w1.kernel"),
            dst + "mlp.down_proj.weight": kernel(src + "feed_forward.w2.kernel"),
            dst + "mlp.up_proj.weight": kernel(src + "feed_forward.w3.kernel"),
            dst + "input_layernorm.weight": params[src + "attention_norm.kernel"].float(),
            dst + "post_attention_layernorm.weight": params[src + "ffn_norm.kernel"].float(),
        })
    return state


def check_size(params: dict, model_size: str, vocab_size: int) -> dict:
    size = MODEL_SIZES[model_size]
    embedding = params.get("transformer.wte.embedding")
    if embedding is None:
        raise LangAdaptError("--load_checkpoint: no transformer.wte.embedding; not an EasyLM LLaMA checkpoint")
    layers = len({key.split(".")[2] for key in params if key.startswith("transformer.h.")})
    found = dict(vocab_size=embedding.shape[0], dim=embedding.shape[1], n_layers=layers)
    wanted = dict(vocab_size=vocab_size, dim=size["dim"], n_layers=size["n_layers"])
    if found != wanted:
        fits = [name for name, s in MODEL_SIZES.items() if (s["dim"], s["n_layers"]) == (found["dim"], layers)]
        hint = f"--model_size {fits[0]}" if fits else "a --model_size of that shape"
        raise LangAdaptError(f"--model_size {model_size} --vocab_size {vocab_size}: the checkpoint has vocabulary "
                             f"{found['vocab_size']}, width {found['dim']}, {layers} layers; pass {hint} and "
                             f"--vocab_size {found['vocab_size']}")
    return size


def write_tokenizer(tokenizer_path: str, output_dir: Path) -> None:
    """EasyLM's write_tokenizer: the sentencepiece model plus LlamaTokenizer's config (BOS added, no EOS)."""
    special = {name: {"content": text, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
               for name, text in (("bos_token", "<s>"), ("eos_token", "</s>"), ("unk_token", "<unk>"))}
    config = {"add_bos_token": True, "add_eos_token": False, "model_max_length": 2048, "pad_token": None,
              "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "clean_up_tokenization_spaces": False,
              **{name: {"__type": "AddedToken", **value} for name, value in special.items()}}
    (output_dir / "special_tokens_map.json").write_text(json.dumps(special))
    (output_dir / "tokenizer_config.json").write_text(json.dumps(config))
    shutil.copyfile(tokenizer_path, output_dir / "tokenizer.model")


def convert(load_checkpoint: str, tokenizer_path: str, model_size: str, output_dir: str, vocab_size: int = 32000,
            dtype: str = "float16") -> Path:
    """EasyLM checkpoint -> `output_dir` (safetensors Llama + tokenizer), written under a temporary name first."""
    if model_size not in MODEL_SIZES:
        raise LangAdaptError(f"--model_size {model_size}: expected one of {', '.join(MODEL_SIZES)}")
    if not Path(tokenizer_path).is_file():
        raise LangAdaptError(f"--tokenizer_path {tokenizer_path}: no such file; pass the sentencepiece tokenizer.model")
    source = resolve_checkpoint(load_checkpoint)
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    params = read_easylm_params(*source)
    size = check_size(params, model_size, vocab_size)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=size["dim"], intermediate_size=size["intermediate_size"],
                         num_attention_heads=size["n_heads"], num_hidden_layers=size["n_layers"],
                         rms_norm_eps=size["norm_eps"])
    model = LlamaForCausalLM(config)
    model.load_state_dict(hf_state_dict(params, size))
    model.to(getattr(torch, dtype))
    final = Path(output_dir)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    write_tokenizer(tokenizer_path, partial)
    final.mkdir(parents=True, exist_ok=True)  # as the original, into an existing folder too
    for written in partial.iterdir():
        written.replace(final / written.name)
    partial.rmdir()
    return final
