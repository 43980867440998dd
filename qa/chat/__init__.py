"""The terminal chat: ``terminal`` (the loop and its commands), ``render`` (what it prints)."""

from qa.chat.terminal import main

__all__ = ["main"]
