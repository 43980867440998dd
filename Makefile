# One task file: `make run` serves the API, `make test` runs every test; both set up from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: install index run test lint clean

# The CPU build of torch goes in first: installed later by sentence-transformers' dependency on
# plain `torch`, pip would pull a multi-GB CUDA build instead.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

index: install
	$(BIN)/qa index

run: index
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

test: install
	bash scripts/ensure_browser.sh
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check qa tests scripts
	$(BIN)/ruff format --check qa tests scripts

clean:
	rm -rf $(VENV) index/current index/build-* index/.tmp-* .pytest_cache
