"""Filters: questions restricted to some documents by id glob, type and metadata (front matter,
``.meta.json``, ``PUT``), over Flask's test client on both backends; recall under a filter; the
filtered searches of each index type against exact search; the chat's ``/in`` and the
evaluation's ``--filters``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from backends import BACKENDS
from corpora import live_contents, write_corpus
from test_api import check_schema

from qa.build import build_index
from qa.config import Settings
from qa.errors import InvalidRequest
from qa.filters import NO_MATCH_MESSAGE, parse_filters
from qa.ingest.metadata import front_matter
from qa.pipeline import QAPipeline
from qa.serve.api import create_app
from qa.store import dense as dense_module
from qa.store.dense import ChunkIndex, DenseSpec
from qa.store.lexical import LexicalIndex
from qa.store.rowset import RowSet

QUESTION = "How did revenue change in the first quarter?"
CORPUS = {
    "reports/2023/q1.md": "---\nyear: 2023\nteam: blue\ndate: 2023-03-31\ntags: [finance, quarterly]"
    "\n---\n# First quarter 2023\n\nRevenue grew by 12 percent in the first quarter of 2023.\n",
    "reports/2021/q1.txt": "First quarter 2021\n\nRevenue fell by 3 percent in the first quarter "
    "of 2021.\n",
    "reports/2021/q1.txt.meta.json": json.dumps(
        {"year": 2021, "team": "red", "date": "2021-03-31"}
    ),
    "reports/2022/q1.html": "<html><head><title>First quarter 2022</title></head><body><article>"
    "<h1>First quarter 2022</h1><p>Revenue stayed flat in the first quarter of 2022.</p>"
    "</article></body></html>",
    "reports/2022/q1.html.meta.json": json.dumps({"year": 2022, "team": "green"}),
    "bees.txt": "Honey bees\n\nA honey bee colony has a single queen. Worker bees live for about "
    "six weeks in summer.\n",
    # Recall: documents about volcanoes fill the top DEPTH of every ranking for the volcano
    # question, so the one line about an eruption in the field notes lies below all of them.
    **{
        f"volcanoes/{name.lower()}.txt": f"The volcano {name}\n\nThe volcano {name} erupted in "
        f"{1800 + 9 * i}. When the volcano erupted, lava from the eruption ran down the "
        f"volcano's slopes.\n"
        for i, name in enumerate(
            ["Hekla", "Krakatoa", "Tambora", "Pinatubo", "Vesuvius", "Fuji", "Katla", "Laki"]
        )
    },
    "notes/trip.txt": "Field notes\n\nWe walked along the coast and counted seabirds all "
    "morning. Mount Etna erupted last Tuesday and covered the town in grey ash. The ferry "
    "left at noon.\n",
}
DEPTH = 5  # each ranking's depth (QA_CANDIDATE_DEPTH): fewer distractors fill it
VOLCANO = "When did the volcano erupt?"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp(f"filters-{request.param}")
    settings = Settings(
        corpus=write_corpus(root / "corpus", CORPUS),
        index_dir=root / "index",
        backend=request.param,
        candidate_depth=DEPTH,
    )
    build_index(settings, progress=False)
    return settings


@pytest.fixture(scope="module")
def pipeline(settings: Settings) -> QAPipeline:
    return QAPipeline.load(settings)


@pytest.fixture()
def client(settings: Settings, pipeline: QAPipeline) -> Any:
    return create_app({"TESTING": True, "QA_SETTINGS": settings}, pipeline=pipeline).test_client()


def ask(client: Any, filters: Any, question: str = QUESTION) -> dict[str, Any]:
    response = client.post("/api/ask", json={"question": question, "filters": filters})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    check_schema(body, "AskResponse")
    return body


def cited(body: dict[str, Any]) -> set[str]:
    """The documents an answer's passages and citations come from."""
    return {p["doc_id"] for p in body["passages"]} | {c["doc_id"] for c in body["citations"]}


def test_a_doc_id_glob_restricts_citations_and_passages(client: Any) -> None:
    everything = ask(client, None)
    assert len({d for d in cited(everything) if d.startswith("reports/")}) == 3
    body = ask(client, {"doc_id": "reports/2021/*"})
    assert cited(body) == {"reports/2021/q1.txt"}
    assert body["answerable"] and "fell by 3 percent" in body["answer"]
    either = ask(client, {"doc_id": ["reports/2022/*", "reports/2023/q?.md"]})
    assert cited(either) <= {"reports/2022/q1.html", "reports/2023/q1.md"}
    search = client.post("/api/search", json={"query": QUESTION, "filters": {"doc_id": "*.md"}})
    assert {p["doc_id"] for p in search.get_json()["passages"]} == {"reports/2023/q1.md"}


def test_type_is_the_document_format(client: Any) -> None:
    assert cited(ask(client, {"type": "html"})) == {"reports/2022/q1.html"}
    assert cited(ask(client, {"type": ["md", "html"]})) == {
        "reports/2022/q1.html",
        "reports/2023/q1.md",
    }


def test_metadata_from_a_meta_json_and_from_front_matter(client: Any) -> None:
    assert cited(ask(client, {"team": "red"})) == {"reports/2021/q1.txt"}  # q1.txt.meta.json
    assert cited(ask(client, {"team": "blue"})) == {"reports/2023/q1.md"}  # front matter
    assert cited(ask(client, {"tags": "finance"})) == {"reports/2023/q1.md"}  # a list's item


def test_eq_in_and_ranges_of_numbers_and_dates(client: Any) -> None:
    expect = {
        json.dumps({"year": {"eq": 2023}}): {"reports/2023/q1.md"},
        json.dumps({"team": {"in": ["red", "green"]}}): {
            "reports/2021/q1.txt",
            "reports/2022/q1.html",
        },
        json.dumps({"year": {"gte": 2022}}): {"reports/2022/q1.html", "reports/2023/q1.md"},
        json.dumps({"year": {"gt": 2021, "lt": 2023}}): {"reports/2022/q1.html"},
        json.dumps({"date": {"lte": "2021-12-31"}}): {"reports/2021/q1.txt"},
        json.dumps({"year": 2022, "type": "html"}): {"reports/2022/q1.html"},
    }
    for filters, documents in expect.items():
        assert cited(ask(client, json.loads(filters))) == documents, filters


def test_a_filter_no_document_meets_abstains_and_says_so(client: Any) -> None:
    for filters in ({"year": 1999}, {"doc_id": "nowhere/*"}, {"lang": "en"}, {"year": "2023"}):
        body = ask(client, filters)
        assert body["answerable"] is False and body["message"] == NO_MATCH_MESSAGE, filters
        assert body["passages"] == [] and body["citations"] == []
    search = client.post("/api/search", json={"query": QUESTION, "filters": {"year": 1999}})
    assert search.status_code == 200
    assert search.get_json() == {"passages": [], "message": NO_MATCH_MESSAGE}
    check_schema(search.get_json(), "SearchResponse")
    batch = client.post(
        "/api/ask/batch", json={"questions": [QUESTION, VOLCANO], "filters": {"year": 1999}}
    )
    lines = [json.loads(line) for line in batch.get_data(as_text=True).splitlines()]
    assert [line["message"] for line in lines] == [NO_MATCH_MESSAGE] * 2


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"year": {"between": [1, 2]}}, "filters.year: unknown operator 'between'"),
        ({"year": {"gte": True}}, "filters.year.gte"),
        ({"year": {"gte": 2020, "lt": "2024-01-01"}}, "filters.year:"),
        ({"team": {"in": "a"}}, "filters.team.in"),
        ({"team": {"eq": {"a": 1}}}, "filters.team.eq"),
        ({"team": None}, "filters.team"),
        ({"doc_id": {"gte": "a"}}, "filters.doc_id"),
        ({"doc_id": 7}, "filters.doc_id"),
        ({"bad name!": 1}, "filters.bad name!"),
        (["type", "pdf"], "'filters' must be an object"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(client: Any, filters: Any, named: str) -> None:
    for path, body in (
        ("/api/ask", {"question": QUESTION}),
        ("/api/search", {"query": QUESTION}),
        ("/api/ask/batch", {"questions": [QUESTION]}),
    ):
        response = client.post(path, json={**body, "filters": filters})
        assert response.status_code == 400, (path, response.get_data(as_text=True))
        assert named in response.get_json()["error"]["message"], path


def test_a_filtered_search_finds_what_lies_below_every_ranking_s_top(
    client: Any, pipeline: QAPipeline
) -> None:
    # Unfiltered, the best DEPTH passages are all volcano documents: keeping the notes'
    # passages from those, after the search, would find none.
    unfiltered = pipeline.search(VOLCANO, DEPTH)
    assert all(hit.chunk.doc_id.startswith("volcanoes/") for hit in unfiltered)
    search = client.post("/api/search", json={"query": VOLCANO, "filters": {"doc_id": "notes/*"}})
    assert [p["doc_id"] for p in search.get_json()["passages"]] == ["notes/trip.txt"]
    body = ask(client, {"doc_id": "notes/*"}, VOLCANO)
    assert cited(body) == {"notes/trip.txt"}
    if body["answerable"]:
        assert "Etna erupted" in body["answer"]


def test_citations_of_a_document_with_front_matter_slice_its_raw_text(
    client: Any, pipeline: QAPipeline
) -> None:
    body = ask(client, {"type": "md"})
    raw = pipeline.document_text("reports/2023/q1.md")
    assert body["citations"]
    for citation in body["citations"]:
        assert raw[citation["start"] : citation["end"]] == citation["quote"]
        assert citation["start"] >= raw.index("# First quarter")  # never the front matter
    titles = {d.doc_id: d.title for d in pipeline.documents()}
    assert titles["reports/2023/q1.md"] == "First quarter 2023"


def test_metadata_files_are_not_documents_and_an_orphan_is_reported(
    settings: Settings, pipeline: QAPipeline
) -> None:
    ids = {d.doc_id for d in pipeline.documents()}
    assert not any(doc_id.endswith(".meta.json") for doc_id in ids)
    assert "reports/2021/q1.txt" in ids


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_from_put_and_a_metadata_change_alone_keeps_the_vectors(
    backend: str, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus", {k: CORPUS[k] for k in ("bees.txt",)})
    settings = Settings(
        corpus=corpus, index_dir=tmp_path / "index", backend=backend, admin_token="t"
    )
    build_index(settings, progress=False)
    client = create_app({"TESTING": True, "QA_SETTINGS": settings}).test_client()
    auth = {"Authorization": "Bearer t"}
    text = CORPUS["reports/2021/q1.txt"]
    put = client.put(
        "/api/documents/r/q1.txt", json={"text": text, "meta": {"year": 2030}}, headers=auth
    )
    assert put.status_code == 201, put.get_json()
    assert json.loads((corpus / "r/q1.txt.meta.json").read_text()) == {"year": 2030}
    assert cited(ask(client, {"year": 2030})) == {"r/q1.txt"}
    vectors = np.array(live_contents(settings).chunk_vectors)

    # The same text with other metadata: an update that keeps the document's pieces.
    again = client.put(
        "/api/documents/r/q1.txt", json={"text": text, "meta": {"year": 2031}}, headers=auth
    )
    assert again.get_json()["status"] == "updated"
    assert cited(ask(client, {"year": 2031})) == {"r/q1.txt"}
    assert ask(client, {"year": 2030})["message"] == NO_MATCH_MESSAGE
    assert np.array_equal(np.array(live_contents(settings).chunk_vectors), vectors)

    upload = client.put(
        "/api/documents/r/q2.md",
        data={"file": (io.BytesIO(b"# Notes\n\nRevenue doubled.\n"), "q2.md"), "meta": '{"a": 1}'},
        headers=auth,
    )
    assert upload.status_code == 201, upload.get_json()
    assert cited(ask(client, {"a": 1})) == {"r/q2.md"}
    bad = client.put(
        "/api/documents/r/q3.txt", json={"text": "Hi there.", "meta": {"type": "x"}}, headers=auth
    )
    assert bad.status_code == 400 and "meta.type" in bad.get_json()["error"]["message"]
    nested = client.put(
        "/api/documents/r/q3.txt", json={"text": "Hi there.", "meta": {"n": {}}}, headers=auth
    )
    assert nested.status_code == 400 and "meta.n" in nested.get_json()["error"]["message"]
    assert client.delete("/api/documents/r/q1.txt", headers=auth).status_code == 200
    assert not (corpus / "r/q1.txt.meta.json").exists()


def test_qa_index_picks_up_a_meta_json_edited_alone(tmp_path: Path) -> None:
    files = {k: CORPUS[k] for k in ("reports/2021/q1.txt", "reports/2021/q1.txt.meta.json")}
    corpus = write_corpus(tmp_path / "corpus", {**files, "bees.txt": CORPUS["bees.txt"]})
    settings = Settings(corpus=corpus, index_dir=tmp_path / "index")
    build_index(settings, progress=False)
    before = live_contents(settings)
    (corpus / "reports/2021/q1.txt.meta.json").write_text('{"year": 2020}', encoding="utf-8")
    (corpus / "bees.txt.meta.json").write_text('{"kind": "insects"}', encoding="utf-8")
    report = build_index(settings, progress=False)
    assert report.built and (report.added, report.updated) == (0, 0)  # nothing re-embedded
    after = live_contents(settings)
    meta = {d.doc_id: dict(d.meta) for d in after.documents}
    assert meta == {
        "bees.txt": {"kind": "insects", "type": "txt"},
        "reports/2021/q1.txt": {"year": 2020, "type": "txt"},
    }
    assert np.array_equal(np.array(after.chunk_vectors), np.array(before.chunk_vectors))
    assert not build_index(settings, progress=False).built  # and then it is up to date


def test_front_matter_is_read_as_yaml_reads_simple_values() -> None:
    raw = (
        "---\ntitle: 'A: report'\nyear: 2023\nscore: 0.5\ndraft: false\ndate: 2023-04-01\n"
        "tags:\n  - a\n  - b\nnested:\n  x: 1\ntype: post\n---\nBody.\n"
    )
    fields, body = front_matter(raw)
    assert fields == {
        "title": "A: report",
        "year": 2023,
        "score": 0.5,
        "draft": False,
        "date": "2023-04-01",
        "tags": ["a", "b"],
    }
    assert raw[body:] == "Body.\n"
    # A horizontal rule first, then prose: not front matter, and no text is lost.
    assert front_matter("---\nSome words here.\n---\nMore.\n") == ({}, 0)
    assert front_matter("---\nyear: 2023\n") == ({}, 0)  # never closed


def test_filters_parse_and_match_with_types_kept_apart() -> None:
    where = parse_filters({"flag": True, "n": {"gte": 1}})
    assert where is not None
    assert where.matches("a.txt", {"flag": True, "n": 1})
    assert not where.matches("a.txt", {"flag": 1, "n": 1})  # 1 is not true
    assert not where.matches("a.txt", {"flag": True, "n": "2"})  # a string is not a number
    assert parse_filters({}) is None and parse_filters(None) is None
    assert parse_filters({"a": 1}).key != parse_filters({"a": True}).key  # type: ignore[union-attr]
    with pytest.raises(InvalidRequest, match="filters.a.in"):
        parse_filters({"a": {"in": []}})


def _vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors around 64 centres (as text embeddings cluster by topic)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(64, dim))
    x = centres[rng.integers(0, 64, n)] + 0.4 * rng.normal(size=(n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF64,Flat", "IVF64,PQ8np"])
@pytest.mark.parametrize("exact_rows", [0, 20_000])
def test_filtered_dense_search_keeps_to_the_rows_and_finds_their_nearest(
    factory: str, exact_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through FAISS's IDSelector (0 rows searched exactly) and exactly over the rows."""
    monkeypatch.setattr(dense_module, "EXACT_ROWS", exact_rows)
    vectors = _vectors(6000)
    spec = DenseSpec.choose(len(vectors), 32, factory)
    index = ChunkIndex.build(vectors, spec)
    bounds = np.arange(0, 6001, 20)  # 300 "documents" of 20 rows
    within = RowSet.of_runs(bounds, np.arange(0, 300, 10))  # every tenth: 600 rows
    queries = _vectors(30, seed=1)
    recall = []
    for query in queries:
        found = index.search(query, 10, within)
        rows = [row for row, _ in found]
        assert len(rows) == 10 and set(rows) <= set(within.ids.tolist())
        exact = {row for row, _ in within.nearest(vectors, query, 10)}
        recall.append(len(exact & set(rows)) / 10)
    assert np.mean(recall) >= (1.0 if factory == "Flat" or exact_rows else 0.95)


def test_filtered_bm25_ranks_the_rows_as_the_whole_index_does() -> None:
    texts = [f"volcano {'erupted ' * (i % 7)}lava {i}" for i in range(200)]
    index = LexicalIndex.build(texts)
    within = RowSet.of_runs(np.arange(0, 201, 10), np.array([3, 7, 8]))
    everything = index.search("volcano erupted", 200)
    allowed = set(within.ids.tolist())
    expected = [score for row, score in everything if row in allowed][:5]
    found = index.search("volcano erupted", 5, within)
    assert [score for _, score in found] == expected  # the same scores (ties in any order)
    assert {row for row, _ in found} <= allowed


def test_row_sets_join_neighbouring_runs_and_give_ids_and_a_bitmap() -> None:
    rows = RowSet.of_runs(np.array([0, 3, 3, 7, 9, 12]), np.array([0, 1, 2, 4]))
    assert list(rows.runs()) == [(0, 7), (9, 12)]  # the empty run (3, 3) counts for nothing
    assert rows.ids.tolist() == [0, 1, 2, 3, 4, 5, 6, 9, 10, 11] and rows.size == 10
    selector = faiss.IDSelectorBitmap(rows.total, faiss.swig_ptr(rows.bitmap))
    assert [i for i in range(12) if selector.is_member(i)] == rows.ids.tolist()


def test_the_chat_s_in_restricts_the_questions_that_follow() -> None:
    from test_chat import session_for

    abstention = {"answerable": False, "answer": None, "confidence": 0.0}
    session, out, _ = session_for({**abstention, "passages": [], "citations": []})
    session.handle("/in reports/2023/*")
    session.handle("How did revenue change?")
    assert session.client.filters == {"doc_id": "reports/2023/*"}  # type: ignore[attr-defined]
    session.handle("/in")
    session.handle("How did revenue change?")
    assert session.client.filters is None  # type: ignore[attr-defined]
    session.handle("/help")
    assert "/in GLOB" in out.getvalue() and "matches reports/2023/*" in out.getvalue()


def test_the_evaluation_asks_every_question_with_its_filters(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.eval.cli import main

    questions = tmp_path / "questions.jsonl"
    lines = [
        {"id": "q1", "question": QUESTION, "answers": ["12 percent"], "docs": []},
        {"id": "q2", "question": VOLCANO, "answers": ["last Tuesday"], "docs": []},
    ]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    filters = json.dumps({"doc_id": "reports/2023/*"})
    args = [str(questions), "--index-dir", str(settings.index_dir), "--out", str(out)]
    monkeypatch.setenv("QA_BACKEND", settings.backend)
    monkeypatch.setenv("QA_CANDIDATE_DEPTH", str(DEPTH))
    assert main([*args, "--filters", filters, "--no-progress"]) == 0
    records = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert {p["doc_id"] for r in records for p in r["passages"]} == {"reports/2023/q1.md"}
    assert json.loads((out / "report.json").read_text())["settings"]["filters"] == json.loads(
        filters
    )
    with pytest.raises(SystemExit):  # argparse: "filters.x: unknown operator 'nope'; ..."
        main([*args, "--filters", '{"x": {"nope": 1}}', "--no-progress"])
