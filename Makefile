# make demo: build .venv, install tfam, run the demo (results under runs/demo/)
# make test: build .venv, install tfam with its test extra, run the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo demo-mnist test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m tfam.demo --out runs/demo

demo-mnist: $(VENV)/.installed
	$(BIN)/python -m tfam.demo_mnist --out runs/demo-mnist

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/am_speed.py

clean:
	rm -rf $(VENV) runs build *.egg-info
