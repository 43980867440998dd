"""qa: retrieval-based question answering with cited, extractive answers."""

__version__ = "0.1.0"
