"""Finding a dataset's files on disk, and downloading the missing ones.

Downloads go through pooch (as SciPy and scikit-image do): it checks the checksum of what it
fetched, shows progress, and moves a file into the cache only when it is complete and right.
Each mirror is tried in turn; a file whose checksum does not match is discarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlpspec.core.errors import DataError
from mlpspec.core.files import first_file
from mlpspec.data.dataset import DataContext


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset, and the md5 of the file as the mirrors serve it."""

    name: str
    md5: str


def find_or_fetch(
    folder: str,
    files: Sequence[RemoteFile],
    ctx: DataContext,
    mirrors: Sequence[str],
    system_dirs: Sequence[Path] = (),
) -> dict[str, Path]:
    """The path of each file, looked for in every known folder, downloaded if missing.

    In each folder ``D`` of ``ctx.search_dirs(system_dirs)``, a file is looked for as
    ``D/folder/name`` and ``D/name``, compressed or not.
    """
    places = [p for d in ctx.search_dirs(system_dirs) for p in (d / folder, d)]
    found: dict[str, Path] = {}
    missing = []
    for remote in files:
        path = _first_existing(places, remote.name)
        if path is None:
            missing.append(remote)
        else:
            found[remote.name] = path
    if missing and not ctx.download:
        raise DataError(
            _missing_message(folder, missing, places)
            + "downloads are off (data.download = false): put the files in one of these "
            "folders, or point data_dir, --data-dir or MLPSPEC_DATA_DIR at a folder that has them"
        )
    for remote in missing:
        try:
            found[remote.name] = download(remote, mirrors, ctx.cache_dir / folder, ctx.progress)
        except DataError as exc:
            raise DataError(_missing_message(folder, missing, places) + str(exc)) from None
    return found


def _first_existing(places: Sequence[Path], name: str) -> Path | None:
    plain = name.removesuffix(".gz")
    return first_file(c for place in places for c in (place / name, place / plain))


def download(remote: RemoteFile, mirrors: Sequence[str], target: Path, progress: bool) -> Path:
    """Fetch ``remote`` from the first mirror that serves it with the right checksum."""
    import pooch

    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            path = pooch.retrieve(
                url,
                known_hash=f"md5:{remote.md5}",
                fname=remote.name,
                path=target,
                progressbar=progress,
            )
            return Path(path)
        except Exception as exc:  # network, HTTP or checksum: try the next mirror
            errors.append(f"{url}: {_short(exc)}")
    raise DataError(
        f"could not download {remote.name} into {target}:\n  "
        + "\n  ".join(errors)
        + "\nput the file there yourself, or point data_dir, --data-dir or MLPSPEC_DATA_DIR "
        "at a folder that has it"
    )


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _missing_message(folder: str, missing: Sequence[RemoteFile], places: Sequence[Path]) -> str:
    names = ", ".join(remote.name for remote in missing)
    looked = "\n  ".join(str(place) for place in dict.fromkeys(places))
    return f"{folder}: missing {names}; looked in:\n  {looked}\n"
