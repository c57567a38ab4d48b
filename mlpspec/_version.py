"""The installed mlpspec's version, in a module of its own so that any layer may read it
without importing the package's public face (which imports every layer)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlpspec")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
