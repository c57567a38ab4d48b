"""The one error of this package's own."""

from __future__ import annotations


class StoreError(Exception):
    """The store refused something for a reason this tracker can name in a sentence."""
