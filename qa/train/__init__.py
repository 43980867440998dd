"""Fitting the reader's models, behind make targets; serving code never imports this package.

``reader_training`` (ranking weights, confidence, the answer gate), ``reranker_training`` (the
cross-encoder) and ``squad_groups`` (training groups from SQuAD v1.1 train).
"""
