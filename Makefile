# One task file: `make run` serves the API, `make test` runs every test; both set up from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: install index run test lint clean bench-squad bench-squad-v2 reranker

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

# Issue 4's benchmark in one command: index SQuAD v1.1 dev (2,067 paragraphs), then answer 2,000
# questions from the held-out articles (qa.splits), with progress; the report lands in reports/.
SQUAD_V1 ?= ../shared/bench/external/squad-v1.1-dev.json
SQUAD_V2 ?= ../shared/bench/external/squad-v2.0-dev-rebuilt.json
bench-squad: install
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/evaluate.py $(SQUAD_V1) --index-dir build/squad-v1.1 --split heldout \
		--limit 2000 --seed 0 --concurrency 2 --fresh --out reports/squad-v1.1-heldout

# Abstention: SQuAD v2.0 (rebuilt), half of whose questions the paragraphs do not answer.
bench-squad-v2: install
	$(BIN)/qa index --corpus $(SQUAD_V2) --index-dir build/squad-v2.0
	$(BIN)/python scripts/evaluate.py $(SQUAD_V2) --index-dir build/squad-v2.0 --split heldout \
		--limit 2000 --seed 0 --concurrency 2 --fresh --out reports/squad-v2.0-heldout

# Retrain the shipped cross-encoder (qa/models/cross-encoder) on SQuAD v1.1's fit articles and refit
# how its score mixes with the linear one (qa/reader_model.json): about 40 minutes on 2 cores.
reranker: install
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1

clean:
	rm -rf $(VENV) index/current index/build-* index/.tmp-* .pytest_cache build reports
