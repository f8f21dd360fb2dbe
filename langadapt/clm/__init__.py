"""run_clm: pretrain or retune Backpack (and any causal) LMs with transformers' run_clm flags."""
from .arguments import ClmTrainingArguments, DataTrainingArguments, ModelArguments, parse_clm_arguments
from .runner import train_clm

__all__ = ["ClmTrainingArguments", "DataTrainingArguments", "ModelArguments", "parse_clm_arguments", "train_clm"]
