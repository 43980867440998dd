#!/usr/bin/env python
"""Take the README's pictures: the browser page with an opened citation, and a chat session.

Uses the local index (built if missing), serves the app in-process on 127.0.0.1 and drives
Debian's Chromium (``scripts/ensure_browser.sh``) with Playwright. Writes ``docs/page.png``,
``docs/chat-session.svg`` and ``docs/chat-session.png``.
"""

from __future__ import annotations

import argparse
import io
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "qa" / "__init__.py").exists():
    sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from qa.chat import render  # noqa: E402
from qa.chat.terminal import PROMPT, ChatSession  # noqa: E402
from qa.clients import LocalClient  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.serve.api import create_app  # noqa: E402

QUESTION = "Who is Russia's envoy to NATO?"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def chat_picture(client: LocalClient, out_dir: Path) -> Path:
    """Replay a short session into a recording console and save it as SVG."""
    console = render.make_console("always", file=io.StringIO(), record=True, width=100)
    session = ChatSession(client, console, console, top_k=5, max_top_k=50, echo=False)
    render.render_banner(console, "corpus seeds/, index index/", client.health())
    for line in [QUESTION, "/open 1"]:
        console.print(PROMPT + line, style="bold")
        session.handle(line)
        console.print()
    svg = out_dir / "chat-session.svg"
    console.save_svg(str(svg), title="python scripts/chat.py")
    return svg


def page_picture(client: LocalClient, browser: object, out_dir: Path) -> None:
    """Serve the app on a free local port, ask, open citation 1, screenshot."""
    app = create_app(pipeline=client.pipeline)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 760})  # type: ignore[attr-defined]
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.get_by_label("Question").fill(QUESTION)
        page.get_by_label("Question").press("Enter")
        page.locator("#citations .source-link").first.click(timeout=60_000)
        page.locator("#document-text mark.cited").wait_for()
        page.screenshot(path=str(out_dir / "page.png"))
    finally:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Write the pictures into ``--out`` (default docs/)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    client = LocalClient.open(Settings.from_env())
    svg = chat_picture(client, args.out)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page_picture(client, browser, args.out)
        # The SVG as a PNG too, for viewers that do not show SVG.
        svg_page = browser.new_page(viewport={"width": 1000, "height": 600})
        svg_page.goto(svg.resolve().as_uri())
        svg_page.locator("svg").screenshot(path=str(args.out / "chat-session.png"))
        browser.close()
    print(f"wrote {args.out}/page.png, chat-session.svg, chat-session.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
