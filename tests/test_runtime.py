"""ONNX Runtime for the encoders: the same outputs as torch, the setting, the cache, the fallback."""

from __future__ import annotations

import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from qa import runtime as rt
from qa.build import default_embedder
from qa.config import Settings
from qa.embedding import MiniLMEmbedder, OnnxEmbedder, load_embedder
from qa.errors import InvalidSetting
from qa.read.reranker import PACKAGED, CrossEncoder

ROOT = Path(__file__).resolve().parent.parent

TEXTS = [
    "Who is Russia's envoy to NATO?",
    "Dmitry Rogozin, Russia’s missile defense envoy to NATO, opened a March 30 talk at the East "
    "West Institute think tank here by casting doubt on the very need for it.",
    "Super Bowl 50 was an American football game to determine the champion of the NFL.",
    "Café naïve résumé — “quotes”, 北京 and 😀.",
    "",
    " ".join(["The river is wide and slow."] * 60),  # over the 256-token window: truncated
]
QUESTION = "Which team won the championship final in 1998?"
PASSAGES = [
    "The championship final of 1998 was played in Paris before 80,000 people.",
    "The Blue Hawks won the 1998 championship final, beating the Red Foxes 3-0.",
    "Tickets for the final sold out within an hour.",
    "In 1998 the Blue Hawks, coached by Ann Lee, took the title in the final against the Foxes.",
]


@pytest.fixture(scope="module")
def torch_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def torch_vectors(torch_embedder: MiniLMEmbedder) -> np.ndarray:
    return torch_embedder.encode(TEXTS)


@pytest.fixture(scope="module")
def onnx_embedders() -> dict[bool, OnnxEmbedder]:
    """fp32 and int8, from the model cache (``make models`` fills it; else exported now)."""
    return {int8: OnnxEmbedder(int8=int8) for int8 in (False, True)}


@pytest.fixture(scope="module")
def cross_encoders() -> dict[str, CrossEncoder]:
    return {
        r.label: CrossEncoder(PACKAGED, r)
        for r in (rt.EncoderRuntime(rt.TORCH), *(rt.EncoderRuntime(rt.ONNX, b) for b in (0, 1)))
    }


@pytest.fixture()
def restore_threads():
    before = rt._threads
    yield
    rt.set_inference_threads(before)


# --- the same outputs as torch --------------------------------------------------------------------


def test_fp32_vectors_equal_torch(torch_vectors, onnx_embedders) -> None:
    want = torch_vectors
    got = onnx_embedders[False].encode(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() >= 0.999


def test_int8_vectors_stay_close_to_torch(torch_vectors, onnx_embedders) -> None:
    cosine = (onnx_embedders[True].encode(TEXTS) * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.97  # 0.983 at worst, 0.993 on average over 2,000 SQuAD sentences


@pytest.mark.parametrize("int8", [False, True])
def test_a_vector_depends_on_its_text_alone(onnx_embedders, int8: bool, restore_threads) -> None:
    """int8 scales a run's activations by their largest: each text runs alone, so neither the
    texts embedded with it, their order, nor how many run at once moves its vector."""
    embedder = onnx_embedders[int8]
    rt.set_inference_threads(1)
    alone = np.stack([embedder.encode([text])[0] for text in TEXTS])
    rt.set_inference_threads(0)  # a build's setting: one run a core at once
    assert np.array_equal(embedder.encode(TEXTS), alone)
    assert np.array_equal(embedder.encode(TEXTS[::-1]), alone[::-1])
    assert np.array_equal(embedder.encode(TEXTS, progress=True), alone)


def test_window_and_dimension_match_torch(torch_embedder, onnx_embedders) -> None:
    onnx = onnx_embedders[False]
    assert (onnx.dim, onnx.max_tokens, onnx.name) == (
        torch_embedder.dim,
        torch_embedder.max_tokens,
        torch_embedder.name,
    )
    for text in TEXTS + ["word " * 254, "word " * 255]:
        assert onnx.fits(text) == torch_embedder.fits(text)
    assert onnx.encode([]).shape == (0, 384)


def test_cross_encoder_fp32_scores_and_spans_equal_torch(cross_encoders) -> None:
    want_logits, want_spans = cross_encoders["torch"].read(QUESTION, PASSAGES, [0, 4, 0, 3])
    got_logits, got_spans = cross_encoders["onnx-fp32"].read(QUESTION, PASSAGES, [0, 4, 0, 3])
    assert got_logits.dtype == np.float32
    assert np.abs(got_logits - want_logits).max() < 1e-3
    assert len(got_spans) == len(want_spans) == len(PASSAGES)
    for want, got in zip(want_spans, got_spans, strict=True):
        assert want is not None and got is not None
        assert (got.start, got.end) == (want.start, want.end)
        assert abs(got.score - want.score) < 1e-3


def test_cross_encoder_fp32_spans_equal_torch_on_the_seed_articles(cross_encoders) -> None:
    from qa.text import split_sentences

    text = sorted((ROOT / "seeds").glob("*.txt"))[0].read_text(encoding="utf-8")
    sentences = [text[a:b] for a, b in split_sentences(text)][:20]
    for question in ("Who is Russia's envoy to NATO?", "When will the leaders meet?"):
        for start in range(0, len(sentences), 5):
            group = sentences[start : start + 5]
            _, want = cross_encoders["torch"].read(question, group)
            _, got = cross_encoders["onnx-fp32"].read(question, group)
            assert [(s.start, s.end) if s else None for s in got] == [
                (s.start, s.end) if s else None for s in want
            ]


@pytest.mark.parametrize("label", ["onnx-fp32", "onnx-int8"])
def test_cross_encoder_ranks_like_torch(cross_encoders, label: str) -> None:
    want = cross_encoders["torch"].score(QUESTION, PASSAGES)
    got = cross_encoders[label].score(QUESTION, PASSAGES)
    assert list(np.argsort(-got)) == list(np.argsort(-want))
    assert cross_encoders[label].runtime == label


@pytest.mark.parametrize("label", ["onnx-fp32", "onnx-int8"])
def test_cross_encoder_scores_each_pair_on_its_own(cross_encoders, label: str) -> None:
    """Neither padding nor batch-mates move a pair's logit: int8's activation scales would."""
    model = cross_encoders[label]
    alone = model.read(QUESTION, PASSAGES[2:3])
    padded = model.read(QUESTION, [PASSAGES[2], " ".join(PASSAGES * 3)])
    assert float(alone[0][0]) == pytest.approx(float(padded[0][0]), abs=1e-4)
    assert alone[1][0] == padded[1][0]  # the same answer span


def test_threads_share_the_onnx_models(onnx_embedders, cross_encoders) -> None:
    embedder, model = onnx_embedders[True], cross_encoders["onnx-int8"]
    vectors, (logits, spans) = embedder.encode(TEXTS[:4]), model.read(QUESTION, PASSAGES)

    def both(_: int):
        return embedder.encode(TEXTS[:4]), model.read(QUESTION, PASSAGES)

    with ThreadPoolExecutor(4) as pool:
        for got_vectors, (got_logits, got_spans) in pool.map(both, range(8)):
            assert np.allclose(got_vectors, vectors, atol=1e-5)
            assert np.allclose(got_logits, logits, atol=1e-4) and got_spans == spans


def test_sessions_follow_the_thread_setting(onnx_embedders, cross_encoders, restore_threads):
    """The cross-encoder's session takes the process's threads; the bi-encoder's runs one thread
    a text and runs that many texts at once instead."""
    pairs_session, embedder = cross_encoders["onnx-int8"]._pairs._encoder, onnx_embedders[True]
    for threads in (1, 2):
        rt.set_inference_threads(threads)
        cross_encoders["onnx-int8"].score(QUESTION, PASSAGES[:1])
        embedder.encode(["some threads"])
        assert pairs_session._threads == threads and rt.inference_parallelism() == threads
        assert embedder._encoder._threads == 1
    rt.set_inference_threads(0)
    assert rt.inference_parallelism() == rt.available_cores()


# --- the setting -----------------------------------------------------------------------------------


def test_default_is_onnx() -> None:
    settings = Settings()
    assert rt.encoder_runtime(settings, rt.BI_ENCODER).kind == rt.ONNX
    assert rt.encoder_runtime(settings, rt.CROSS_ENCODER).kind == rt.ONNX


def test_settings_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"QA_RUNTIME": "onnx", "QA_INT8": "cross-encoder", "QA_MODEL_CACHE": str(tmp_path)}
    )
    bi = rt.encoder_runtime(settings, rt.BI_ENCODER)
    cross = rt.encoder_runtime(settings, rt.CROSS_ENCODER)
    assert (bi.label, cross.label, bi.cache) == ("onnx-fp32", "onnx-int8", tmp_path)
    torch_settings = Settings.from_env({"QA_RUNTIME": "torch", "QA_INT8": "all"})
    assert rt.encoder_runtime(torch_settings, rt.CROSS_ENCODER).label == "torch"


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ("none", set()),
        ("all", {"bi-encoder", "cross-encoder"}),
        (" Bi-Encoder , cross-encoder", {"bi-encoder", "cross-encoder"}),
        ("bi-encoder", {"bi-encoder"}),
    ],
)
def test_int8_setting(setting: str, names: set[str]) -> None:
    assert rt.int8_encoders(setting) == names


@pytest.mark.parametrize(
    ("field", "value"), [("runtime", "tensorrt"), ("int8", "reader"), ("int8", "all,bi-encoder")]
)
def test_bad_settings_are_clear_errors(field: str, value: str) -> None:
    with pytest.raises(InvalidSetting, match=f"QA_{field.upper()}"):
        rt.encoder_runtime(Settings(**{field: value}), rt.BI_ENCODER)


def test_the_torch_setting_gives_torch_encoders() -> None:
    settings = Settings(runtime="torch")
    assert default_embedder(settings).runtime == "torch"
    embedder = load_embedder(64, rt.encoder_runtime(settings, rt.BI_ENCODER))
    assert isinstance(embedder, MiniLMEmbedder)


# --- the cache -------------------------------------------------------------------------------------


def test_the_cache_lives_in_the_virtual_environment(tmp_path: Path, monkeypatch) -> None:
    """Not under HOME: a process with another HOME (a service, the chat tests) still finds it."""
    assert rt.cache_dir(tmp_path) == tmp_path
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert rt.cache_dir() == tmp_path / "venv" / "share" / "qa" / "onnx"
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rt.cache_dir() == tmp_path / "xdg" / "qa" / "onnx"


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "model.onnx"

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"half a model")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        rt.write_atomically(dest, half_then_fail)
    assert list(tmp_path.iterdir()) == []
    rt.write_atomically(dest, lambda tmp: tmp.write_bytes(b"a whole model"))
    assert dest.read_bytes() == b"a whole model" and list(tmp_path.iterdir()) == [dest]


def _fake_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_concurrent_first_uses_export_once(tmp_path: Path, monkeypatch) -> None:
    """Workers that start together: one exports, the others wait and read the whole file."""
    folder, cache = _fake_model(tmp_path), tmp_path / "cache"
    calls, started = [], threading.Event()

    def slow_export(source: Path, dest: Path) -> None:
        calls.append(source)
        started.set()
        with dest.open("wb") as f:
            for _ in range(50):
                f.write(b"x" * 1000)
                f.flush()

    monkeypatch.setattr(rt, "export_encoder", slow_export)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: rt.onnx_model(folder, int8=False, cache=cache), range(4)))
    assert len(calls) == 1 and len(set(paths)) == 1
    assert paths[0].stat().st_size == 50_000
    assert not [p for p in cache.iterdir() if ".tmp-" in p.name]
    # Other weights, another file; the same weights again, no export.
    rt.onnx_model(folder, int8=False, cache=cache)
    assert len(calls) == 1
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert rt.onnx_model(folder, int8=False, cache=cache) != paths[0]
    assert len(calls) == 2


def test_the_exported_model_is_checked_against_torch(tmp_path: Path, monkeypatch) -> None:
    """An export whose outputs differ from torch's is refused, and nothing is cached."""
    monkeypatch.setattr(rt, "MAX_EXPORT_DIFF", -1.0)
    from qa.embedding import bundled_model_folder

    with pytest.raises(rt.OnnxUnavailable, match="differs from torch"):
        rt.onnx_model(bundled_model_folder(), int8=False, cache=tmp_path)
    assert not list(tmp_path.glob("*.onnx"))


# --- falling back to torch -------------------------------------------------------------------------


def test_without_onnxruntime_the_encoders_run_on_torch(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder(64, rt.EncoderRuntime(rt.ONNX, int8=True))
        model = CrossEncoder(PACKAGED, rt.EncoderRuntime(rt.ONNX, int8=True))
    assert isinstance(embedder, MiniLMEmbedder) and model.runtime == "torch"
    assert "bi-encoder runs on torch: onnxruntime is not installed" in caplog.text
    assert "cross-encoder runs on torch: onnxruntime is not installed" in caplog.text


def test_a_failed_export_falls_back_to_torch(tmp_path: Path, monkeypatch, caplog) -> None:
    def broken(source: Path, dest: Path) -> None:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(rt, "export_encoder", broken)
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder(64, rt.EncoderRuntime(rt.ONNX, cache=tmp_path))
    assert isinstance(embedder, MiniLMEmbedder)
    assert "exporting" in caplog.text and "unsupported operator" in caplog.text


def test_a_damaged_cached_model_falls_back_to_torch(tmp_path: Path, caplog) -> None:
    fp32, _ = rt.cached_paths(PACKAGED, tmp_path)
    fp32.write_bytes(b"not a model")
    with caplog.at_level(logging.WARNING):
        model = CrossEncoder(PACKAGED, rt.EncoderRuntime(rt.ONNX, cache=tmp_path))
    assert model.runtime == "torch"
    assert f"cannot load {fp32}" in caplog.text
