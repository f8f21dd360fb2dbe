"""Shared plumbing: language codes, resumable data order, atomic checkpoints, RNG state, run guards."""
import random

import numpy as np
import pytest
import torch

from langadapt.errors import LangAdaptError
from langadapt.languages import flores_tag, get_language, to_iso1, to_iso3
from langadapt.training import (CheckpointManager, ResumableSampler, capture_rng_state, check_finite,
                                restore_rng_state)


# ------------------------------------------------------------------------------------------- languages
@pytest.mark.parametrize("code", ["swh", "sw", "swa", "swh_Latn", "SWH"])
def test_swahili_spellings_resolve(code):
    assert to_iso3(code) == "swh" and to_iso1(code) == "sw" and flores_tag(code) == "swh_Latn"


def test_estonian_flores_plus_tag_differs():
    assert flores_tag("est") == "est_Latn"
    assert flores_tag("est", "flores_plus") == "ekk_Latn"
    assert flores_tag("ekk_Latn", "flores200") == "est_Latn"
    assert to_iso3("et") == "est"


@pytest.mark.parametrize("code,iso1,flores", [("ind", "id", "ind_Latn"), ("tur", "tr", "tur_Latn"),
                                               ("hin", "hi", "hin_Deva"), ("ell", "el", "ell_Grek"),
                                               ("tha", "th", "tha_Thai"), ("eng", "en", "eng_Latn")])
def test_paper_languages(code, iso1, flores):
    lang = get_language(code)
    assert (lang.iso1, lang.flores) == (iso1, flores)
    assert get_language(iso1) is lang and get_language(flores) is lang


def test_unknown_code_lists_nearest():
    with pytest.raises(LangAdaptError, match="unknown language code 'swx'.*swh"):
        get_language("swx")


def test_tag_in_a_script_flores_lacks_is_refused():
    with pytest.raises(LangAdaptError, match="swh_Arab: not a FLORES-200 tag; did you mean swh_Latn"):
        flores_tag("swh_Arab")


# ------------------------------------------------------------------------------------------ data order
def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def test_sampler_resumes_mid_epoch_and_across_epochs():
    reference = take(iter(ResumableSampler(10, seed=7)), 27)
    assert sorted(reference[:10]) == list(range(10)) and reference[:10] != reference[10:20]
    for consumed in (0, 4, 10, 13):
        sampler = ResumableSampler(10, seed=7)
        resumed = ResumableSampler(10, seed=7)
        resumed.load_state_dict(sampler.state_dict(consumed))
        assert take(iter(resumed), 27 - consumed) == reference[consumed:]


def test_sampler_shards_ranks_disjointly():
    shards = [take(iter(ResumableSampler(9, seed=1, rank=r, world_size=3)), 3) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(9))


def test_sampler_refuses_other_world_size():
    state = ResumableSampler(10, world_size=2).state_dict(3)
    with pytest.raises(LangAdaptError, match="2 processes"):
        ResumableSampler(10, world_size=1).load_state_dict(state)


def test_empty_dataset_is_an_error():
    with pytest.raises(LangAdaptError, match="empty"):
        ResumableSampler(0)


# ----------------------------------------------------------------------------------------- checkpoints
class Tiny(torch.nn.Module):
    """Minimal module with the save_pretrained interface the manager relies on."""

    def __init__(self, width=3):
        super().__init__()
        self.linear = torch.nn.Linear(width, 2)

    def save_pretrained(self, folder, safe_serialization=True):
        from safetensors.torch import save_file

        save_file(self.state_dict(), str(folder / "model.safetensors"))


def test_checkpoints_rotate_and_ignore_incomplete(tmp_path):
    manager = CheckpointManager(tmp_path, max_keep=2)
    model = Tiny()
    for step in (1, 2, 3):
        manager.save(step, model, {"step": step, "rng": capture_rng_state()})
    assert [p.name for p in manager.complete_checkpoints()] == ["step-000000000002", "step-000000000003"]
    (tmp_path / "step-000000000009.tmp").mkdir()  # a write killed midway
    (tmp_path / "step-000000000010").mkdir()  # no completion marker
    assert manager.latest().name == "step-000000000003"
    assert CheckpointManager.load_training_state(manager.latest())["step"] == 3


def test_checkpoint_weights_round_trip_and_refuse_other_model(tmp_path):
    manager = CheckpointManager(tmp_path)
    model = Tiny()
    path = manager.save(5, model, {})
    other = Tiny()
    CheckpointManager.load_weights(path, other)
    assert torch.equal(other.linear.weight, model.linear.weight)
    with pytest.raises(LangAdaptError, match="another model"):
        CheckpointManager.load_weights(path, Tiny(width=4))


def test_rng_state_restores_every_stream():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_rng_state_survives_weights_only_load(tmp_path):
    torch.save(capture_rng_state(), tmp_path / "state.pt")
    restore_rng_state(torch.load(tmp_path / "state.pt", weights_only=True))


def test_non_finite_loss_names_step():
    check_finite(torch.tensor(1.0), 3)
    with pytest.raises(LangAdaptError, match="step 12"):
        check_finite(torch.tensor(float("nan")), 12)
