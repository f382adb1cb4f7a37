# Each target makes its own .venv with only python3 and make on the machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz docs clean

# setup.py builds the optional C row encoder: a changed source must be rebuilt
$(STAMP): pyproject.toml setup.py osq_esf/extension/_rowenc.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench,native]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/osq-esf demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.packs

# The reliability campaigns (fuzz, redaction corpus, socket abuse, lifecycle): docs/reliability.md
fuzz: $(STAMP)
	$(BIN)/python -m bench.reliability

docs: $(STAMP)
	$(BIN)/osq-esf tables --format md > docs/tables.md

clean:
	rm -rf $(VENV) build *.egg-info
