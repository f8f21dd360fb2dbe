"""Convert an EasyLM LLaMA checkpoint (COMMIT trained with the original) into a Hugging Face Llama folder.

The COMMIT README's `python -m EasyLM.models.llama.convert_easylm_to_hf` with the same flags; no JAX needed.
"""
from __future__ import annotations

from langadapt.cli import make_parser, run_cli, setup_logging
from langadapt.commit.easylm_checkpoint import MODEL_SIZES, convert


def parse_args(argv=None):
    p = make_parser(__doc__)
    p.add_argument("--load_checkpoint", required=True,
                   help="TYPE::PATH, TYPE params (streaming_params_N), trainstate_params or flax_params; PATH may be "
                        "a glob matching one file, e.g. 'params::OUT/*/streaming_params_1210'")
    p.add_argument("--tokenizer_path", required=True, help="the sentencepiece tokenizer.model the model trained with")
    p.add_argument("--model_size", default="13b", help=f"one of {', '.join(MODEL_SIZES)} (EasyLM's default 13b)")
    p.add_argument("--output_dir", required=True, help="folder for the Hugging Face checkpoint")
    p.add_argument("--vocab_size", type=int, default=32000, help="rows of the embedding (LLaMA's 32000)")
    p.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16",
                   help="weights' dtype on disk (float16 as the original)")
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)
    out = convert(args.load_checkpoint, args.tokenizer_path, args.model_size, args.output_dir, args.vocab_size,
                  args.dtype)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
