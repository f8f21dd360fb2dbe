"""run_clm: pretrain or retune Backpack (and any causal) LMs with transformers' run_clm flags.

The modules import transformers; this package file imports nothing, so `run_clm.py --help` stays fast."""
