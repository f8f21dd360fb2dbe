"""What one evaluation run is asked to do, checked before anything loads (no torch: `--help` stays fast)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..data import parse_split
from ..errors import LangAdaptError
from .tasks.qa import FORK_MODELS

SCORING_MODES = ("cond", "pmi", "letter")
DIRECTIONS = ("both", "src2tgt", "tgt2src")
PMI_PRIORS = ("option", "original")
ORIGINAL_MAX_LENGTH = 512  # the original run_eval's --max_length


@dataclass
class EvalConfig:
    task: str
    lang: str
    split: Optional[str] = None
    scoring: str = "cond"
    use_mean_nll: bool = False
    length_alpha: float = 0.0
    pmi_lambda: float = 0.1
    pmi_prior: str = "option"
    template: Optional[str] = None
    prompt_format: str = "original"
    num_fewshot: int = 0
    limit: Optional[int] = None
    data_path: Optional[str] = None
    batch_size: int = 16
    max_length: Optional[int] = None
    max_new_tokens: Optional[int] = None
    retrieval_direction: str = "both"
    original_retrieval_indexing: bool = False
    share_context: bool = True
    fork_model: str = FORK_MODELS[0]
    progress: bool = True

    def validate(self) -> None:
        if self.scoring not in SCORING_MODES:
            raise LangAdaptError(f"--scoring {self.scoring}: expected one of {', '.join(SCORING_MODES)}")
        if self.retrieval_direction not in DIRECTIONS:
            raise LangAdaptError(f"--retrieval_direction: expected one of {', '.join(DIRECTIONS)}")
        if self.pmi_prior not in PMI_PRIORS:
            raise LangAdaptError(f"--pmi_prior {self.pmi_prior}: expected one of {', '.join(PMI_PRIORS)}")
        if self.fork_model not in FORK_MODELS:
            raise LangAdaptError(f"--fork_model {self.fork_model}: expected one of {', '.join(FORK_MODELS)}")
        if self.num_fewshot < 0:
            raise LangAdaptError(f"--num_fewshot must be >= 0, got {self.num_fewshot}")
        if self.length_alpha < 0:
            raise LangAdaptError(f"--length_alpha must be >= 0, got {self.length_alpha}")
        if self.batch_size < 1:
            raise LangAdaptError(f"--batch_size must be >= 1, got {self.batch_size}")
        if self.split:
            parse_split(self.split, "--split")
        if self.max_length is not None and self.max_length < 2:
            raise LangAdaptError(f"--max_length must be >= 2, got {self.max_length}")
        if self.pmi_prior == "original" and (self.prompt_format != "original" or self.scoring != "pmi"):
            raise LangAdaptError("--pmi_prior original is the original run_eval's prior: it needs --scoring pmi "
                                 "and --prompt_format original")

    @property
    def alpha(self) -> float:
        """The length-normalisation exponent, with the original's precedence: --use_mean_nll means 1."""
        return 1.0 if self.use_mean_nll else self.length_alpha
