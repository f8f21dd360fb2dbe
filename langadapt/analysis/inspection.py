"""Read a Backpack's senses, the Backpack paper's way: a sense vector s_k of a word, sent through the
output embedding E, scores the vocabulary (E s_k); its top and bottom tokens say what the sense promotes
and suppresses. Senses come from the context-free sense network, so a word's senses are the mean over
the tokens of its form: the text exactly as the model reads it (" word" inside a sentence, "Word" at its
start), never a spelling the text does not hold. With a base model, each sense is compared with its old
self (cosine) and the senses are ranked by how far they moved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import LangAdaptError


def word_token_ids(tokenizer, form: str) -> list[int]:
    ids = tokenizer(form, add_special_tokens=False)["input_ids"] if form.strip() else []
    if not ids:
        raise LangAdaptError(f"word {form.strip()!r}: the tokenizer gives it no tokens of its own")
    return ids


def shown(form: str) -> str:
    """A form as the report prints it: a leading space as a visible mark, like the tokens."""
    return form.replace(" ", "\u2423")


@torch.inference_mode()
def word_senses(model, tokenizer, forms: Sequence[str]) -> torch.Tensor:
    """[N, K, d] senses of each form (mean over its tokens), in one sense-network call."""
    pieces = [word_token_ids(tokenizer, f) for f in forms]
    flat = torch.tensor([[t for p in pieces for t in p]], device=model.lm_head.weight.device)
    senses = model.backpack.sense_network(model.backpack.gpt2_model.wte(flat))[0].float()  # [K, T, d]
    bounds = torch.tensor([0] + [len(p) for p in pieces]).cumsum(0).tolist()
    return torch.stack([senses[:, a:b].mean(dim=1) for a, b in zip(bounds[:-1], bounds[1:])])


def token_label(tokenizer, token: int) -> Optional[str]:
    """The token as text (a leading space shown as a visible mark); None for byte fragments and controls."""
    text = tokenizer.decode([token])
    shown = text.replace(" ", "\u2423")
    return shown if shown and "\ufffd" not in shown and shown.isprintable() else None


def readable(tokenizer, ranked: list, count: int) -> list[str]:
    labels = (token_label(tokenizer, t) for t in ranked)
    return [label for label in labels if label is not None][:count]


@torch.inference_mode()
def read_senses(model, tokenizer, senses: torch.Tensor, count: int) -> tuple[list, list]:
    """For [N, K, d] senses: (top tokens, bottom tokens), each [N][K] lists of up to `count` readable labels
    (byte fragments that decode to no character are skipped)."""
    scores = senses.to(model.lm_head.weight.dtype) @ model.lm_head.weight.T  # [N, K, V]
    pool = min(scores.shape[-1], count * 8)
    top = scores.topk(pool, dim=-1).indices.tolist()
    bottom = (-scores).topk(pool, dim=-1).indices.tolist()
    label = lambda rows: [[readable(tokenizer, sense, count) for sense in word] for word in rows]  # noqa: E731
    return label(top), label(bottom)


@dataclass
class SenseReading:
    word: str
    sense: int
    form: str  # the text read: " word" or a sentence's first "Word"
    top: list
    bottom: list
    cosine_to_base: Optional[float] = None
    base_top: list = field(default_factory=list)
    base_bottom: list = field(default_factory=list)

    @property
    def moved(self) -> Optional[float]:
        return None if self.cosine_to_base is None else 1.0 - self.cosine_to_base


def inspect_words(model, tokenizer, forms: Sequence[str], count: int = 8, base=None,
                  base_tokenizer=None) -> list[SenseReading]:
    """One reading per (form, sense); with `base`, cosines to the base model's same sense."""
    senses = word_senses(model, tokenizer, forms)
    top, bottom = read_senses(model, tokenizer, senses, count)
    readings = [SenseReading(f.strip(), k, f, top[n][k], bottom[n][k])
                for n, f in enumerate(forms) for k in range(senses.shape[1])]
    if base is None:
        return readings
    old = word_senses(base, base_tokenizer, forms)
    if old.shape != senses.shape:
        raise LangAdaptError(f"--compare: the base model's senses have shape {tuple(old.shape[1:])}, the model's "
                             f"{tuple(senses.shape[1:])}; only models of the same shape can be compared")
    cosine = F.cosine_similarity(senses, old.to(senses.device), dim=-1).tolist()
    old_top, old_bottom = read_senses(base, base_tokenizer, old, count)
    for reading in readings:
        n = forms.index(reading.form)
        reading.cosine_to_base = cosine[n][reading.sense]
        reading.base_top, reading.base_bottom = old_top[n][reading.sense], old_bottom[n][reading.sense]
    return readings


def _code(token: str) -> str:
    return f"`` {token} ``" if "`" in token else f"`{token}`"


def _cell(tokens: Sequence[str]) -> str:
    return " ".join(_code(t) for t in tokens).replace("|", "\\|")


def markdown_report(readings: Sequence[SenseReading], title: str, intro: str, movers: int = 15) -> str:
    compared = readings and readings[0].cosine_to_base is not None
    lines = [f"# {title}", "", intro, ""]
    if compared:
        lines += ["## The senses that moved most", "",
                  "Cosine of each sense to the same sense of the base model: 1 = unchanged, 0 = unrelated. "
                  "Tokens are what the sense promotes most through the output embedding.", "",
                  "| word | sense | cosine to base | top tokens now | top tokens before |", "|---|---|---|---|---|"]
        for r in sorted(readings, key=lambda r: -r.moved)[:movers]:
            lines.append(f"| {shown(r.form)} | {r.sense} | {r.cosine_to_base:.3f} | {_cell(r.top)} "
                         f"| {_cell(r.base_top)} |")
        lines += ["", "## Every word", ""]
    for form in dict.fromkeys(r.form for r in readings):
        own = [r for r in readings if r.form == form]
        lines += [f"### {shown(form)}", ""]
        if compared:
            lines += [f"Mean cosine to base: {sum(r.cosine_to_base for r in own) / len(own):.3f}", "",
                      "| sense | cosine to base | top tokens | bottom tokens | top tokens before |", "|---|---|---|---|---|"]
            lines += [f"| {r.sense} | {r.cosine_to_base:.3f} | {_cell(r.top)} | {_cell(r.bottom)} | {_cell(r.base_top)} |"
                      for r in own]
        else:
            lines += ["| sense | top tokens | bottom tokens |", "|---|---|---|"]
            lines += [f"| {r.sense} | {_cell(r.top)} | {_cell(r.bottom)} |" for r in own]
        lines.append("")
    return "\n".join(lines)
