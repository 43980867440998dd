// qa page: ask /api/ask, show the answer and citations, open a cited document with the quote
// highlighted in place. Plain browser JavaScript: no build step, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const docCache = new Map();
const titles = new Map(); // doc_id -> title, for passages (which carry only the id)

// Offsets from the API are Python string indices (code points); JavaScript strings index UTF-16
// code units, so any character outside the BMP before the quote would shift a naive slice.
function codePointToUnit(text, cp) {
  let unit = 0;
  for (let n = 0; n < cp && unit < text.length; n++) {
    const c = text.charCodeAt(unit);
    unit += c >= 0xd800 && c <= 0xdbff && unit + 1 < text.length ? 2 : 1;
  }
  return unit;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Where `needle` sits in `haystack`: exact first, then ignoring case (the answer text is
// normalised, so the short answer's case can differ).
function findSpan(haystack, needle) {
  if (!needle) return null;
  const at = haystack.indexOf(needle);
  if (at >= 0) return [at, at + needle.length];
  const m = new RegExp(escapeRegExp(needle), "i").exec(haystack);
  return m ? [m.index, m.index + m[0].length] : null;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// Fill `node` with `text`, wrapping text[span] in <mark>; returns the mark (or null).
function fillHighlighted(node, text, span, markClass) {
  node.replaceChildren();
  if (!span) {
    node.append(text);
    return null;
  }
  const mark = el("mark", markClass ? { class: markClass } : {}, text.slice(span[0], span[1]));
  node.append(text.slice(0, span[0]), mark, text.slice(span[1]));
  return mark;
}

async function apiFetch(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error("Cannot reach the qa server. Is it still running?");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    throw new Error(`The server answered ${response.status} without JSON.`);
  }
  if (!response.ok) {
    const message = body && body.error && body.error.message;
    throw new Error(message || `The server answered ${response.status}.`);
  }
  return body;
}

function setBusy(busy) {
  $("busy").hidden = !busy;
  $("ask-button").disabled = busy;
  $("batch-button").disabled = busy;
  $("ask-form").setAttribute("aria-busy", String(busy));
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function sourceItem(n, title, docId, start, end, quote, extraMeta, page) {
  const open = () => openDocument(docId, start, end, quote);
  const link = el("button", { type: "button", class: "source-link", onclick: open },
    `[${n}] ${title}`);
  // A PDF citation names its page, so a reader can find the quote in the original file too.
  const where = page == null ? docId : `${docId}, p. ${page}`;
  const meta = el("span", { class: "source-meta" },
    ` (${where}, chars ${start}-${end})${extraMeta || ""}`);
  return el("li", { "data-doc-id": docId }, link, meta);
}

function renderAnswer(data) {
  const answered = data.answerable && data.answer;
  $("answer-block").hidden = !answered;
  $("abstain-block").hidden = Boolean(answered);
  const citations = $("citations");
  citations.replaceChildren();
  if (answered) {
    $("short-answer").textContent = data.short_answer || "";
    fillHighlighted($("answer"), data.answer, findSpan(data.answer, data.short_answer));
    $("confidence-meter").value = data.confidence;
    $("confidence").textContent = data.confidence.toFixed(2);
    for (const c of data.citations) {
      const item = sourceItem(c.n, c.title, c.doc_id, c.start, c.end, c.quote, "", c.page);
      item.append(el("p", { class: "quote" }, `“${c.quote.replace(/\s+/g, " ").trim()}”`));
      citations.append(item);
    }
  }
  renderOthers(answered ? (data.answers || []).slice(1) : []);
  if (!answered) {
    $("abstain-confidence").textContent = `(confidence ${data.confidence.toFixed(2)})`;
    // A reason other than the documents (a question not in English) replaces "not found".
    $("abstain-message").textContent = data.message || "";
    $("abstain-message").hidden = !data.message;
    $("abstain-not-found").hidden = Boolean(data.message);
  }
  renderPassages(data.passages || []);
  // An abstention is only useful with the passages in view.
  $("passages-details").open = !answered;
  $("passages-details").hidden = !(data.passages || []).length;
  $("result").hidden = false;
}

// The answers after the first (the API's "answers"), each with its confidence and source.
function renderOthers(others) {
  const list = $("others");
  list.replaceChildren();
  others.forEach((other, i) => {
    const item = el("li", { class: "other-answer" });
    if (other.short_answer) item.append(el("strong", { class: "short" }, other.short_answer), " ");
    item.append(el("span", { class: "muted small" }, `(confidence ${other.confidence.toFixed(2)})`));
    const text = el("p", { class: "answer" });
    fillHighlighted(text, other.answer, findSpan(other.answer, other.short_answer));
    item.append(text);
    const sources = el("ul", { class: "citations" });
    for (const c of other.citations) {
      sources.append(sourceItem(i + 2, c.title, c.doc_id, c.start, c.end, c.quote, "", c.page));
    }
    item.append(sources);
    list.append(item);
  });
  $("others-block").hidden = !others.length;
}

function renderPassages(passages) {
  const list = $("passages");
  list.replaceChildren();
  for (const p of passages) {
    const title = titles.get(p.doc_id) || p.doc_id;
    const item = sourceItem(p.rank, title, p.doc_id, p.start, p.end, null,
      `, score ${p.score.toFixed(4)}`);
    const text = p.text.replace(/\s+/g, " ").trim();
    item.append(el("p", {}, text.length > 400 ? text.slice(0, 400) + " …" : text));
    list.append(item);
  }
}

async function ask(question, topK) {
  showError("");
  setBusy(true);
  try {
    const data = await apiFetch("/api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, top_k: topK, ...filtersOption() }),
    });
    renderAnswer(data);
  } catch (err) {
    showError(err.message);
  } finally {
    setBusy(false);
  }
}

// The "Only in documents" box as the API's filters (none when it is empty).
function filtersOption() {
  const pattern = $("doc-filter").value.trim();
  return pattern ? { filters: { doc_id: pattern } } : {};
}

// One line of a batch's results: the question, then its short answer (or why it has none);
// clicking it shows the whole answer as a single question's would be.
function batchItem(line, question) {
  const item = el("li", { "data-index": String(line.index) });
  if (line.error) {
    item.append(`${question} `, el("span", { class: "error" }, `(error: ${line.error.message})`));
    return item;
  }
  const found = line.answerable && line.answer;
  const summary = found
    ? `${line.short_answer || line.answer} (confidence ${line.confidence.toFixed(2)})`
    : line.message || "Not found in the documents";
  item.append(el("button", { type: "button", onclick: () => renderAnswer(line) }, line.question),
    ` → ${summary}`);
  return item;
}

// POST /api/ask/batch and list each answer as its line of the stream arrives.
async function askMany(questions, topK) {
  showError("");
  setBusy(true);
  const list = $("batch-results");
  list.replaceChildren();
  try {
    const response = await fetch("/api/ask/batch", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ questions, top_k: topK, ...filtersOption() }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      pending += decoder.decode(value || new Uint8Array(), { stream: !done });
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const text of lines.filter((t) => t.trim())) {
        const line = JSON.parse(text);
        list.append(batchItem(line, questions[line.index]));
      }
      if (done) break;
    }
  } catch (err) {
    showError(err.message);
  } finally {
    setBusy(false);
  }
}

async function fetchDocument(docId) {
  if (!docCache.has(docId)) {
    // Ids may contain "/": encode each segment but keep the separators.
    const path = docId.split("/").map(encodeURIComponent).join("/");
    docCache.set(docId, await apiFetch(`/api/documents/${path}`));
  }
  return docCache.get(docId);
}

async function openDocument(docId, start, end, quote) {
  showError("");
  let doc;
  try {
    doc = await fetchDocument(docId);
  } catch (err) {
    showError(`Could not open ${docId}: ${err.message}`);
    return;
  }
  const text = doc.text;
  let span = [codePointToUnit(text, start), codePointToUnit(text, end)];
  // The API promises quote == text[start:end]; if a proxy or encoding broke that, find it.
  if (quote && text.slice(span[0], span[1]) !== quote) {
    const at = text.indexOf(quote);
    span = at >= 0 ? [at, at + quote.length] : span;
  }
  $("document-title").textContent = doc.title || docId;
  $("document-meta").textContent = `${docId}, highlighted characters ${start}-${end}`;
  const mark = fillHighlighted($("document-text"), text, span, "cited");
  $("document").hidden = false;
  const box = $("document-text");
  // Scroll only the text box to the quote, then bring the panel into view without jumping.
  if (mark) box.scrollTop = mark.offsetTop - box.offsetTop - box.clientHeight / 3;
  $("document").scrollIntoView({ block: "nearest" });
  box.focus({ preventScroll: true });
}

async function loadStatus() {
  try {
    const health = await apiFetch("/api/health");
    $("status").textContent =
      `${health.documents} documents, ${health.chunks} passages indexed.`;
    const listing = await apiFetch("/api/documents");
    for (const d of listing.documents) titles.set(d.doc_id, d.title);
  } catch (err) {
    showError(`The service is not ready: ${err.message}`);
  }
}

function init() {
  $("ask-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    if (!question) {
      showError("Type a question first.");
      $("question").focus();
      return;
    }
    ask(question, Number($("top-k").value));
  });
  $("batch-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const questions = $("batch-questions").value.split("\n").map((q) => q.trim()).filter(Boolean);
    if (!questions.length) {
      showError("Type one question a line first.");
      return;
    }
    askMany(questions.slice(0, 64), Number($("top-k").value));
  });
  const closeDocument = () => {
    $("document").hidden = true;
    $("question").focus();
  };
  $("document-close").addEventListener("click", closeDocument);
  $("document").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDocument();
  });
  loadStatus();
  // ?q=... asks straight away, so an answer can be linked to.
  const q = new URLSearchParams(window.location.search).get("q");
  if (q) {
    $("question").value = q;
    ask(q, Number($("top-k").value));
  }
}

document.addEventListener("DOMContentLoaded", init);
