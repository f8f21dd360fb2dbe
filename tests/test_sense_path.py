"""The Backpack's sense layer runs whichever formulation measured faster, per shape, and says which."""
import itertools
import logging

import pytest
import torch

from langadapt.backpack import sense_path
from langadapt.backpack.errors import LangAdaptError
from langadapt.backpack.sense_path import SensePathChooser
from langadapt.toy_models import tiny_backpack_model


def fake_timer(costs):
    """A timer that reports the given cost per path (identified by what its run returns)."""
    def timer(run, device):
        return costs[run()]
    return timer


def runs():
    return {"fused": lambda: "fused", "eager": lambda: "eager"}


@pytest.mark.parametrize("costs,expected", [({"fused": 1.0, "eager": 2.0}, "fused"),
                                            ({"fused": 3.0, "eager": 2.0}, "eager")])
def test_the_faster_path_is_kept_and_measured_once(monkeypatch, costs, expected):
    monkeypatch.setenv("LANGADAPT_SENSE_PATH", "auto")
    calls = []
    chooser = SensePathChooser(timer=lambda run, device: calls.append(run) or fake_timer(costs)(run, device))
    key = ("cpu", torch.float32, True, 4, 8, 32, 16, 16, 2)
    assert chooser.choose(key, runs, torch.device("cpu")) == expected
    assert chooser.choose(key, lambda: pytest.fail("measured twice"), torch.device("cpu")) == expected
    assert len(calls) == len(sense_path.PATHS) * (sense_path.WARM_UP_ROUNDS + sense_path.TIMED_ROUNDS)


def test_paths_alternate_and_the_warm_up_round_does_not_count(monkeypatch):
    """A burst of load must hit both paths alike: calls alternate round by round, and a fast first call (warm
    caches from the model's own forward, say) does not decide."""
    monkeypatch.setenv("LANGADAPT_SENSE_PATH", "auto")
    order = []
    first_call_of = {}

    def timer(run, device):
        path = run()
        order.append(path)
        if path not in first_call_of:
            first_call_of[path] = True
            return 0.1 if path == "fused" else 9.0  # warm-up: fused looks fastest here only
        return 3.0 if path == "fused" else 2.0

    chooser = SensePathChooser(timer=timer)
    key = ("cpu", torch.float32, True, 4, 8, 32, 16, 16, 2)
    assert chooser.choose(key, runs, torch.device("cpu")) == "eager"
    rounds = sense_path.WARM_UP_ROUNDS + sense_path.TIMED_ROUNDS
    assert order == list(sense_path.PATHS) * rounds


def test_a_pin_wins_and_a_bad_pin_is_named(monkeypatch):
    chooser = SensePathChooser(timer=fake_timer({"fused": 1.0, "eager": 2.0}))
    monkeypatch.setenv("LANGADAPT_SENSE_PATH", "eager")
    assert chooser.choose("k", runs, torch.device("cpu")) == "eager"
    monkeypatch.setenv("LANGADAPT_SENSE_PATH", "fast")
    with pytest.raises(LangAdaptError, match="LANGADAPT_SENSE_PATH=fast"):
        chooser.choose("k", runs, torch.device("cpu"))


def test_shape_classes_round_lengths_up_to_a_power_of_two():
    query = torch.zeros(2, 4, 100, 8)
    assert sense_path.shape_class(query, torch.zeros(2, 4, 100, 32)) == \
        sense_path.shape_class(torch.zeros(2, 4, 128, 8), torch.zeros(2, 4, 128, 32))
    assert sense_path.shape_class(query, torch.zeros(2, 4, 100, 32)) != \
        sense_path.shape_class(torch.zeros(2, 4, 129, 8), torch.zeros(2, 4, 129, 32))


@pytest.mark.parametrize("winner", ["fused", "eager"])
def test_the_model_runs_the_chosen_path_logs_it_and_keeps_its_numbers(monkeypatch, caplog, winner):
    """Whichever path the measurement picks, logits equal the eager model's, and the timing runs (real
    forward + backward on copies) leave no gradient in the parameters."""
    monkeypatch.setenv("LANGADAPT_SENSE_PATH", "auto")
    costs = dict(zip(sense_path.PATHS, (1.0, 2.0) if winner == sense_path.PATHS[0] else (2.0, 1.0)))
    timed = itertools.cycle(sense_path.PATHS)  # the chooser alternates the paths, round by round

    def timer(run, device):  # runs each path for real, reports the planted cost
        run().sum().backward()
        return costs[next(timed)]

    chooser = SensePathChooser(timer=timer)
    monkeypatch.setattr("langadapt.backpack.modeling.CHOOSER", chooser)
    model, reference = tiny_backpack_model("sdpa"), tiny_backpack_model("eager")
    reference.load_state_dict(model.state_dict())
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    with caplog.at_level(logging.INFO, logger="langadapt.backpack.sense_path"):
        logits = model(ids).logits
    assert list(chooser.choices.values()) == [winner]
    assert f"{winner} path" in caplog.text and "width" in caplog.text
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(logits, reference(ids).logits, atol=1e-5, rtol=0)
