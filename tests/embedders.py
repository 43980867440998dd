"""Embedders for tests that prove a step never embeds or chunks."""

from __future__ import annotations


class NeverEmbeds:
    """Stands in for the model and fails the test if anything is embedded or chunked."""

    name, dim, max_tokens = "never", 384, 256

    def __init__(self, why: str) -> None:
        self.why = why

    def encode(self, texts, **kwargs):
        raise AssertionError(f"embedded {self.why}")

    def fits(self, text: str) -> bool:
        raise AssertionError(f"chunked {self.why}")
