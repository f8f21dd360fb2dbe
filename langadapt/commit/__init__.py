"""COMMIT (Lee, Jung, Hwang; NAACL 2024 Findings) training in PyTorch: code-mixed alignment and
code-mixed instruction tuning of any HF causal LM, token for token as COMMIT's EasyLM code (REFERENCE.md
section 3). The text side (dictionaries, mixing, Alpaca templates) lives in `langadapt.commit.codemix`."""
