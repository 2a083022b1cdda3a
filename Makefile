# Two commands do all the set-up on a fresh machine:
#   make demo   fit the bundled Adult slice, sample 100,000 rows, print a summary
#   make test   run the test suite
# Both create .venv (reused afterwards). If no torch is installed yet, torch==$(TORCH_VERSION)
# is installed first: where a local CPU wheel of it is offered (as on our CI machines) pip
# takes it and downloads no CUDA build; elsewhere PyPI's default build is used, so GPU users
# get CUDA. Install your own torch into .venv beforehand to choose another build.

PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synthvae-installed

.PHONY: demo test setup bench-quick clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,bench]"
	touch $(STAMP)

demo: $(STAMP)
	bash examples/demo.sh $(VENV)

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo-out .pytest_cache
