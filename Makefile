# Two commands for a new user: `make demo` runs the whole workflow on bundled data, `make test` the tests.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: test demo env clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

test: env
	$(PY) -m pytest

demo: env
	$(PY) examples/demo.py --output_dir demo_output

clean:
	rm -rf demo_output .pytest_cache
