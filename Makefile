# Quickstart: `make demo`, `make test`. Every target creates .venv first (idempotent, fast when nothing changed).
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
# Data are found through $TITANS_SEQ_DATA; point it at the shared copy next to the checkout when there is one.
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export TITANS_SEQ_DATA ?= $(SHARED_DATA)
endif

.PHONY: install test lint demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) -e '.[dev]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP) -e '.[dev,bench]'
	touch $@

lint: install
	$(VENV)/bin/ruff check titans_seq tests benchmarks notebooks

test: lint
	$(PY) -m pytest

demo: install
	$(PY) -m titans_seq.demo

bench: $(VENV)/.installed-bench
	$(PY) benchmarks/memory_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
