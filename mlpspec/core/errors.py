"""Errors a user can act on.

Every error mlpspec raises on purpose derives from :class:`MlpspecError` and carries the exit
status the command line uses for it: 2 for input that is wrong (a spec, a plugin, a name),
1 for a run that failed. The CLI prints ``str(error)`` and nothing else unless ``--debug``.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class MlpspecError(Exception):
    """Base class of every error meant for the user rather than for a traceback."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, at a place a user can find (``layers[1].units``)."""

    location: str
    message: str
    unknown: tuple[str, str] | None = None
    """``(kind, name)`` when the problem is a component name no plugin registered."""
    origin: str | None = None
    """Who set the value, when not the file the problem is reported for: a base spec it
    ``extends``, ``--set``, a sweep parameter (:mod:`mlpspec.core.compose`)."""

    def __str__(self) -> str:
        place = f"{self.location} (from {self.origin})" if self.origin else self.location
        return f"{place}: {self.message}" if place else self.message


class SpecError(MlpspecError):
    """A spec that cannot be used: malformed TOML or any number of validation problems."""

    exit_code = 2

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{source}: {count} problem{'s' if count != 1 else ''} in the spec"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))


class PluginError(MlpspecError):
    """A plugin that cannot be used as installed (conflicting names, a broken hook)."""

    exit_code = 2


class UnknownComponentError(MlpspecError):
    """A component name that no loaded plugin registered."""

    exit_code = 2

    def __init__(
        self, kind: str, name: str, available: Sequence[str], notes: Sequence[str] = ()
    ) -> None:
        self.kind, self.name, self.available = kind, name, list(available)
        parts = [f"unknown {kind} {name!r}"]
        matches = close_matches(name, available)
        if matches:
            parts.append(f"did you mean {' or '.join(repr(m) for m in matches)}?")
        parts.append(f"available: {', '.join(available) if available else 'none'}")
        parts.extend(notes)
        super().__init__("; ".join(parts))


class UsageError(MlpspecError):
    """A command asked for something it cannot do (a file that exists, a missing split)."""

    exit_code = 2


class DataError(MlpspecError):
    """Data that cannot be found, fetched or read; the message names the file or place."""


class TrainingError(MlpspecError):
    """A run that failed while training (for example a loss that became NaN)."""


class Interrupted(MlpspecError):
    """Training stopped on a signal (after writing a checkpoint, unless it was aborted).

    The exit status is the shell's convention for death by that signal, 128 + its number
    (130 for SIGINT, 143 for SIGTERM), so that scripts see an interruption, not a failure.
    """

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message)


def close_matches(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Names close enough to ``word`` to be a likely typo, best first."""
    return difflib.get_close_matches(word, list(candidates), n=limit, cutoff=0.6)


def format_location(loc: Sequence[str | int]) -> str:
    """``('layers', 1, 'units')`` -> ``layers[1].units``: a place as specs and ``--set`` write
    it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_SHORT = reprlib.Repr()
"""A repr that stops early: a value nested a thousand deep, or a million items long, costs
no more to show than a short one (and cannot exhaust the recursion limit)."""
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 40, 40


def show_value(value: object) -> str:
    """A value as a message quotes it: its repr, cut to about 40 characters."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = _SHORT.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def describe(exc: BaseException) -> str:
    """``Type: message``, or the type alone when the message is empty."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'lrr' (did you mean 'lr'?)``."""
    hint = close_matches(key, allowed)
    return f"unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")


def validation_message(
    error: Mapping[str, Any], allowed: Iterable[str], as_written: Collection[str] = ()
) -> str:
    """One pydantic error in mlpspec's words: an unknown key with the likeliest of the
    ``allowed`` ones, a missing key as such, anything else with the value that was given,
    except for the error types in ``as_written`` (and ``value_error``), whose messages were
    written for the user and already say it."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return unknown_key(str(error["loc"][-1]), allowed)
    if kind == "missing":
        return "this key is required but missing"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" or kind in as_written:
        return message
    return f"{message[0].lower()}{message[1:]} (got {show_value(error.get('input'))})"


def error_text(exc: BaseException) -> str:
    """What a record keeps of an error, on one line: mlpspec's own errors by their message
    (which already says what went wrong), anything else with its type."""
    text = str(exc) if isinstance(exc, MlpspecError) else describe(exc)
    return " ".join(text.split())
