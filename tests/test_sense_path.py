"""The Backpack's sense layer takes the path a fixed rule of device and shape gives (or the config's pin), so
its numerics never depend on timing; both paths compute the eager model's numbers."""
import pytest
import torch

from langadapt.backpack import BackpackGPT2Config, modeling
from langadapt.backpack.errors import LangAdaptError
from langadapt.backpack.sense_path import sense_path_for
from langadapt.toy_models import tiny_backpack_model


# The measurements in sense_path.py's docstring: fused/eager time on CPU, 16 senses, one thread.
@pytest.mark.parametrize("device,width,length,expected", [
    ("cpu", 64, 512, "fused"), ("cpu", 64, 128, "fused"), ("cpu", 128, 512, "fused"), ("cpu", 128, 128, "eager"),
    ("cpu", 192, 512, "eager"), ("cpu", 256, 512, "eager"), ("cpu", 768, 512, "fused"), ("cpu", 768, 128, "fused"),
    ("cuda", 256, 128, "fused"), ("cuda", 768, 512, "fused")])
def test_the_rule_follows_the_measurements(device, width, length, expected):
    assert sense_path_for("auto", device, width, length) == expected


def test_a_pin_in_the_config_wins_is_saved_and_a_bad_one_is_named(tmp_path):
    assert sense_path_for("eager", "cuda", 768, 512) == "eager"
    config = BackpackGPT2Config(n_embd=32, num_senses=4, sense_path="eager")
    config.save_pretrained(tmp_path)
    assert BackpackGPT2Config.from_pretrained(tmp_path).sense_path == "eager"
    with pytest.raises(LangAdaptError, match="sense_path 'fast'"):
        BackpackGPT2Config(n_embd=32, num_senses=4, sense_path="fast")


@pytest.mark.parametrize("pin", ["auto", "fused", "eager"])
def test_the_model_runs_the_ruled_path_with_the_eager_numbers(monkeypatch, pin):
    ran = []
    for path in ("fused", "eager"):
        compute = getattr(modeling, f"{path}_sense_attention")
        monkeypatch.setattr(modeling, f"{path}_sense_attention",
                            lambda *a, _path=path, _compute=compute: ran.append(_path) or _compute(*a))
    model, reference = tiny_backpack_model("sdpa", sense_path=pin), tiny_backpack_model("eager")
    reference.load_state_dict(model.state_dict())
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    logits = model(ids).logits
    assert set(ran) == {"fused" if pin == "auto" else pin}  # width 32 on CPU: fused by the rule
    torch.testing.assert_close(logits, reference(ids).logits, atol=1e-5, rtol=0)
