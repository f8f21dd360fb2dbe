"""inspect_senses.py: sense readings through the output embedding, and which senses moved against a base."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def main(argv):
    spec = importlib.util.spec_from_file_location("inspect_senses", ROOT / "inspect_senses.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_inspect_senses_finds_the_word_whose_senses_moved(tmp_path, tiny_backpack_dir):
    from langadapt.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_backpack_dir)
    model = load_causal_lm(tiny_backpack_dir)
    moved_ids = tokenizer(" house", add_special_tokens=False)["input_ids"]
    kept_ids = tokenizer(" dog", add_special_tokens=False)["input_ids"]
    assert not set(moved_ids) & set(kept_ids)
    with torch.no_grad():  # "adaptation" that only changes the embedding rows of " house"
        model.backpack.gpt2_model.wte.weight[moved_ids] = torch.randn(len(moved_ids), model.config.n_embd,
                                                                      generator=torch.Generator().manual_seed(0))
    adapted = tmp_path / "adapted"
    model.save_pretrained(adapted)
    tokenizer.save_pretrained(adapted)
    out = tmp_path / "inspect"
    main(["--model", str(adapted), "--compare", tiny_backpack_dir, "--words", "house", "dog", "--top_tokens", "5",
          "--device", "cpu", "--out_dir", str(out)])
    readings = json.loads((out / "senses.json").read_text())
    assert len(readings) == 2 * 4
    for r in readings:
        if r["word"] == "dog":
            assert abs(r["cosine_to_base"] - 1.0) < 1e-5
        else:
            assert r["cosine_to_base"] < 0.95
    report = (out / "senses.md").read_text()
    movers = report.split("## The senses that moved most")[1].split("## Every word")[0]
    table = [line for line in movers.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [line.split(" | ")[0] for line in table] == ["| \u2423house"] * 4 + ["| \u2423dog"] * 4
    # sense 0 of "house" read independently: mean sense over its tokens, scored by the output embedding
    with torch.no_grad():
        ids = torch.tensor([moved_ids])
        sense = model.backpack.sense_network(model.backpack.gpt2_model.wte(ids))[0, 0].mean(0).numpy()
    order = np.argsort(-(model.lm_head.weight.detach().numpy() @ sense))
    shown = [tokenizer.decode([int(t)]).replace(" ", "\u2423") for t in order]
    shown = [s for s in shown if s and "\ufffd" not in s and s.isprintable()][:5]
    house = next(r for r in readings if r["word"] == "house" and r["sense"] == 0)
    assert house["top"] == shown
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["most_moved"][0]["word"] == "house"


def test_inspect_senses_words_from_flores_alignments(tmp_path, tiny_backpack_dir):
    flores = ROOT / "examples" / "data" / "flores_demo"
    align = tmp_path / "a.txt"
    align.write_text("1-0\n" * 64)  # "The doctor ..." -> "Daktari ...": the second English word, the first Swahili
    out = tmp_path / "out"
    main(["--model", tiny_backpack_dir, "--src", "eng_Latn", "--tgt", "swh_Latn", "--dataset", str(flores),
          "--alignments", str(align), "--top_pairs", "1", "--device", "cpu", "--out_dir", str(out)])
    readings = json.loads((out / "senses.json").read_text())
    forms = list(dict.fromkeys(r["form"] for r in readings))
    assert forms == [" doctor", "Daktari"] and "### Daktari" in (out / "senses.md").read_text()
    # "Daktari" occurs only sentence-initially: read from its own tokens, not " daktari"'s
    from langadapt.models import load_causal_lm, load_tokenizer

    tokenizer, model = load_tokenizer(tiny_backpack_dir), load_causal_lm(tiny_backpack_dir)
    ids = tokenizer("Daktari", add_special_tokens=False)["input_ids"]
    assert ids != tokenizer(" daktari", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        sense = model.backpack.sense_network(model.backpack.gpt2_model.wte(torch.tensor([ids])))[0, 1].mean(0).numpy()
    order = np.argsort(-(model.lm_head.weight.detach().numpy() @ sense))
    labels = [tokenizer.decode([int(t)]).replace(" ", "\u2423") for t in order]
    labels = [s for s in labels if s and "\ufffd" not in s and s.isprintable()][:8]
    assert next(r for r in readings if r["form"] == "Daktari" and r["sense"] == 1)["top"] == labels


def test_an_empty_word_is_refused(tmp_path, tiny_backpack_dir, capsys):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "inspect_senses.py"), "--model", tiny_backpack_dir, "--words",
                           "house", "", "--device", "cpu", "--out_dir", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and not (tmp_path / "o").exists()
    assert proc.stderr.strip().splitlines()[-1] == ("error: --words '': an empty word has no tokens of its own (it "
                                                     "would read the space token); give words with letters")
