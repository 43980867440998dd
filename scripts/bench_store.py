"""Memory and load time of an index's records, JSON store against memory-mapped records.

``python scripts/bench_store.py [--chunks 20000] [--squad PATH]`` writes a synthetic store
(documents of 5 SQuAD paragraphs each, sentences cut at ". ", chunks of 5 sentences; zero
vectors, which are memory-mapped either way) in both formats under a temporary folder, then loads
each and prints what it holds in Python objects (tracemalloc) and how long loading took.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.schema import Chunk, Sentence  # noqa: E402
from qa.store.contents import STORE, IndexContents, SentenceVectors, StoredDocument  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared/bench/external/squad-v1.1-dev.json"


def synthetic(squad: Path, n_chunks: int, seed: int = 0) -> IndexContents:
    data = json.loads(squad.read_text(encoding="utf-8"))
    pool = [p["context"] for a in data["data"] for p in a["paragraphs"]]
    rng = random.Random(seed)
    documents: list[StoredDocument] = []
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    while len(chunks) < n_chunks:
        raw = "\n\n".join(rng.sample(pool, 5))
        doc_id = f"doc{len(documents):06d}.txt"
        documents.append(StoredDocument(doc_id, f"Title {len(documents)}", raw, "0" * 64))
        first, start = len(sentences), 0
        while start < len(raw):
            end = raw.find(". ", start)
            end = len(raw) if end < 0 else end + 1
            sentences.append(Sentence(len(sentences), doc_id, raw[start:end], start, end))
            start = end + 1
        for c0 in range(first, len(sentences), 5):
            c1 = min(c0 + 5, len(sentences)) - 1
            text = " ".join(s.text for s in sentences[c0 : c1 + 1])
            start, end = sentences[c0].start, sentences[c1].end
            chunks.append(Chunk(len(chunks), doc_id, text, start, end, 150, c0, c1))
    zeros = np.zeros((len(sentences), 384), np.float32)
    return IndexContents(
        tuple(documents),
        tuple(sentences),
        tuple(chunks),
        np.zeros((len(chunks), 384), np.float32),
        SentenceVectors(zeros, zeros),
    )


def json_store(contents: IndexContents) -> dict:
    """The store as builds before the memory-mapped records wrote it."""
    return {
        "documents": [
            {"doc_id": d.doc_id, "title": d.title, "raw_text": d.raw_text, "sha256": d.sha256}
            for d in contents.documents
        ],
        "sentences": [[s.doc_id, s.start, s.end, s.text] for s in contents.sentences],
        "chunks": [
            [c.doc_id, c.start, c.end, c.n_tokens, c.first_sentence, c.last_sentence, c.text]
            for c in contents.chunks
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--squad", type=Path, default=SQUAD)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mapped, old = Path(tmp, "mapped"), Path(tmp, "json")
        contents = synthetic(args.squad, args.chunks)
        for folder in (mapped, old):
            folder.mkdir()
            contents.save(folder)
        (old / STORE).write_text(json.dumps(json_store(contents)), encoding="utf-8")
        print(
            f"{len(contents.documents)} documents, {len(contents.sentences)} sentences, "
            f"{len(contents.chunks)} chunks"
        )
        print(f"JSON store: {(old / STORE).stat().st_size / 2**20:.1f} MiB on disk")
        del contents
        for name, folder in (("JSON store", old), ("memory-mapped records", mapped)):
            gc.collect()
            tracemalloc.start()
            started = time.perf_counter()
            loaded = IndexContents.load(folder)
            texts = loaded.document_texts()
            seconds = time.perf_counter() - started
            held, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{name}: load {seconds:.2f} s, holds {held / 2**20:.1f} MiB of Python objects "
                f"(peak {peak / 2**20:.1f} MiB)"
            )
            del loaded, texts
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
