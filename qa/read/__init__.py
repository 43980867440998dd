"""Reading: from a question and the index to a cited answer, or an abstention.

``retrieval`` (hybrid dense + BM25 fusion) → ``answer`` (the sentence reader, ``Reader``) with
``reranker`` (the cross-encoder and its span head), ``reader_model`` (ranking weights and the
answer gate), ``answer_types`` and ``short_answer`` (what kind of span a question asks for), and
``language`` (English only; search terms that are not a question).
"""
