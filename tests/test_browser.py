"""The browser page in real headless Chromium (Debian's), driven by Playwright, against gunicorn."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "Who is Russia's envoy to NATO?"
# Keep Chromium quiet and local: no GPU, no sandbox (root in a container), no phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    """Skip where no browser can be had; in CI that is a failure, since CI must run this test."""
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, launched headless once for this module."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; `bash scripts/ensure_browser.sh` installs it as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir) by itself.
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh page on the served app; browser errors fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def ask(page: Any, question: str) -> None:
    """Type a question into the labelled box and submit it with the keyboard."""
    box = page.get_by_label("Question")
    box.fill(question)
    box.press("Enter")


def test_page_is_self_contained(live_server: str):
    html = requests.get(live_server + "/", timeout=10)
    assert html.status_code == 200 and "text/html" in html.headers["Content-Type"]
    # No CDN: every script and stylesheet comes from this server.
    refs = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert "/static/app.js" in refs and "/static/style.css" in refs
    assert not [r for r in refs if r.startswith(("http:", "https:", "//"))]
    for ref in ("/static/app.js", "/static/style.css"):
        assert requests.get(live_server + ref, timeout=10).status_code == 200


def test_ask_then_open_citation_highlights_quote(page: Any, live_server: str, tmp_path: Path):
    from playwright.sync_api import expect

    # Record whether the busy state showed while the request was in flight.
    page.evaluate("""() => {
        window.busySeen = false;
        new MutationObserver(() => {
            if (!document.getElementById('busy').hidden &&
                document.getElementById('ask-button').disabled) window.busySeen = true;
        }).observe(document.getElementById('busy'), {attributes: true});
    }""")
    ask(page, QUESTION)
    expect(page.locator("#short-answer")).to_contain_text("Rogozin", timeout=60_000)
    assert page.evaluate("window.busySeen") is True
    expect(page.locator("#busy")).to_be_hidden()
    # The short answer is highlighted inside the answer sentence.
    expect(page.locator("#answer mark")).to_contain_text("Rogozin")
    expect(page.locator("#confidence")).to_have_text(re.compile(r"^[01]\.\d\d$"))

    first = page.locator("#citations li").first
    expect(first).to_contain_text(re.compile(r"\[1\] .+ \(\S+, chars \d+-\d+\)"))
    label = first.inner_text()
    doc_id, start, end = re.search(r"\((\S+), chars (\d+)-(\d+)\)", label).groups()
    raw = requests.get(f"{live_server}/api/documents/{doc_id}", timeout=10).json()["text"]
    quote = raw[int(start) : int(end)]

    first.locator(".source-link").click()
    mark = page.locator("#document-text mark.cited")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    assert mark.inner_text() == quote
    # The highlight sits in place: the text around it is the document's own text around the quote.
    full = page.locator("#document-text").inner_text()
    assert full.strip() == raw.strip()
    page.screenshot(path=str(tmp_path / "page.png"))
    if os.environ.get("QA_SCREENSHOT_DIR"):
        shutil.copy(tmp_path / "page.png", Path(os.environ["QA_SCREENSHOT_DIR"]) / "page.png")


def test_offsets_are_code_points_and_ids_keep_slashes(page: Any):
    from playwright.sync_api import expect

    # Characters outside the BMP before the quote: Python counts each as one, JavaScript as two.
    text = "😀 intro 🎉 line\nThe quote here.\nafter"
    doc_id = "sub dir/a+b.txt"
    start = text.index("The quote")
    end = start + len("The quote here.")
    citation = {
        "n": 1,
        "doc_id": doc_id,
        "title": "Emoji doc",
        "start": start,
        "end": end,
        "quote": text[start:end],
    }
    body = {
        "question": "q?",
        "answerable": True,
        "answer": "The quote here.",
        "short_answer": "quote",
        "confidence": 0.9,
        "citations": [citation],
        "passages": [],
        "timings_ms": {},
    }
    requested: list[str] = []

    def serve_document(route: Any) -> None:
        requested.append(route.request.url)
        route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"doc_id": doc_id, "title": "Emoji doc", "text": text}),
        )

    page.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        ),
    )
    page.route("**/api/documents/sub**", serve_document)
    ask(page, "q?")
    page.locator("#citations .source-link").first.click()
    expect(page.locator("#document-text mark.cited")).to_have_text("The quote here.")
    assert requested and requested[0].endswith("/api/documents/sub%20dir/a%2Bb.txt")
    page.locator("#document-text").press("Escape")
    expect(page.locator("#document")).to_be_hidden()
    expect(page.get_by_label("Question")).to_be_focused()


def test_other_possible_answers_show_under_the_first(page: Any, live_server: str):
    from playwright.sync_api import expect

    question = "What did Russia threaten to do about missile defence?"
    body = requests.post(f"{live_server}/api/ask", json={"question": question}, timeout=60).json()
    others = body["answers"][1:]
    assert others, "the server gives other possible answers by default"
    ask(page, question)
    expect(page.locator("#others-block")).to_be_visible(timeout=60_000)
    expect(page.locator("#others-block h3")).to_have_text("Other possible answers")
    items = page.locator("#others > li")
    expect(items).to_have_count(len(others))
    for i, other in enumerate(others):
        expect(items.nth(i)).to_contain_text(f"confidence {other['confidence']:.2f}")
        cite = other["citations"][0]
        expect(items.nth(i).locator(".source-link")).to_have_text(f"[{i + 2}] {cite['title']}")
    # Its citation opens the document with that answer's quote highlighted.
    items.nth(0).locator(".source-link").click()
    expect(page.locator("#document-text mark.cited")).to_have_text(
        others[0]["citations"][0]["quote"]
    )


def test_the_document_box_restricts_the_answer_and_says_when_nothing_matches(page: Any):
    from playwright.sync_api import expect

    listing = page.evaluate("() => fetch('/api/documents').then((r) => r.json())")
    only = sorted(d["doc_id"] for d in listing["documents"])[2]
    page.get_by_label("Only in documents").fill(only[:5] + "*")
    ask(page, "What did Russia threaten to do about missile defence?")
    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    if page.locator("#answer-block").is_visible():
        for item in page.locator("#citations li, #others li").all():
            assert item.get_attribute("data-doc-id") in (None, only)
    for item in page.locator("#passages li").all():
        assert item.get_attribute("data-doc-id") == only
    page.get_by_label("Only in documents").fill("no-such-folder/*")
    ask(page, "What did Russia threaten to do about missile defence?")
    expect(page.locator("#abstain-message")).to_contain_text("No document matches")
    expect(page.locator("#answer-block")).to_be_hidden()


def test_many_questions_at_once_list_each_answer_in_order(page: Any):
    from playwright.sync_api import expect

    page.locator("#batch summary").click()
    page.get_by_label("One per line").fill(f"{QUESTION}\n???\nHow do I bake sourdough?\n")
    page.get_by_role("button", name="Ask all").click()
    items = page.locator("#batch-results > li")
    expect(items).to_have_count(3, timeout=120_000)
    expect(items.nth(0)).to_contain_text("Rogozin")
    expect(items.nth(1)).to_contain_text("error:")
    expect(items.nth(2)).to_contain_text("Not found in the documents")
    # A listed answer opens in full, citations and all.
    items.nth(0).get_by_role("button").click()
    expect(page.locator("#short-answer")).to_contain_text("Rogozin")
    expect(page.locator("#citations li").first).to_be_visible()


def test_abstention_shows_passages(page: Any, live_server: str):
    from playwright.sync_api import expect

    # An abstention built from the real passages for the question, since whether the real reader
    # abstains on a given question depends on its calibration.
    passages = requests.post(
        f"{live_server}/api/search", json={"query": "moon cheese", "top_k": 3}, timeout=60
    ).json()["passages"]
    assert passages
    body = {
        "question": "What is the moon made of?",
        "answerable": False,
        "answer": None,
        "short_answer": None,
        "confidence": 0.07,
        "citations": [],
        "passages": passages,
        "timings_ms": {},
    }
    page.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        ),
    )
    ask(page, body["question"])
    expect(page.locator("#abstain-block")).to_contain_text("Not found in the documents")
    expect(page.locator("#abstain-block")).to_contain_text("0.07")
    expect(page.locator("#answer-block")).to_be_hidden()
    expect(page.locator("#passages li")).to_have_count(len(passages))
    expect(page.locator("#passages li").first).to_be_visible()
    # A passage opens its document with the passage highlighted.
    page.locator("#passages .source-link").first.click()
    expect(page.locator("#document-text mark.cited")).to_be_visible()


def test_question_not_in_english_shows_why(page: Any):
    from playwright.sync_api import expect

    ask(page, "Кто представляет Россию в НАТО?")  # the real server, nothing mocked
    message = page.locator("#abstain-message")
    expect(message).to_have_text(
        "Only English questions are supported; this question looks like Russian."
    )
    expect(page.locator("#abstain-not-found")).to_be_hidden()
    expect(page.locator("#answer-block")).to_be_hidden()
    expect(page.locator("#passages-details")).to_be_hidden()  # nothing was retrieved
    ask(page, QUESTION)  # an English question afterwards answers as usual
    expect(page.locator("#answer-block")).to_be_visible()
    expect(page.locator("#abstain-block")).to_be_hidden()
    expect(page.locator("#passages-details")).to_be_visible()


def test_server_error_is_a_readable_message(page: Any):
    from playwright.sync_api import expect

    error = {
        "error": {"code": "index_unavailable", "message": "No index is loaded; run make index."}
    }
    page.route(
        "**/api/ask",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps(error)
        ),
    )
    ask(page, QUESTION)
    expect(page.get_by_role("alert")).to_have_text("No index is loaded; run make index.")
    expect(page.locator("#ask-button")).to_be_enabled()


def test_unreachable_server_is_a_readable_message(page: Any):
    from playwright.sync_api import expect

    page.route("**/api/ask", lambda route: route.abort("connectionrefused"))
    ask(page, QUESTION)
    expect(page.get_by_role("alert")).to_contain_text("Cannot reach the qa server")


def test_narrow_screen_has_no_sideways_scroll(page: Any):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 360, "height": 740})
    ask(page, QUESTION)
    expect(page.locator("#short-answer")).to_contain_text("Rogozin", timeout=60_000)
    page.locator("#citations .source-link").first.click()
    expect(page.locator("#document-text mark.cited")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
