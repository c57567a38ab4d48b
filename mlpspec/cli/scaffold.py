"""``mlpspec new plugin NAME``: a plugin package that installs and passes ``mlpspec check``
as written, to start from rather than copy from the guide.

It writes, into a new (or empty) folder: a ``pyproject.toml`` with the entry point and the
pytest settings, one example component per chosen kind (each in its own module, with its
params model), ``plugin.py`` registering them, tests (the conformance kit through mlpspec's
pytest plugin, a test of what each component computes, and the example spec trained), an
example spec using every component, and a README. The names it gives the components carry the
plugin's name as a prefix (``extras.swish``), so that they clash with no one else's.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from mlpspec._version import __version__
from mlpspec.cli import scaffold_templates as templates
from mlpspec.cli.progress import warn
from mlpspec.core.errors import UsageError

KINDS = tuple(templates.EXAMPLES)
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def add_parser(sub: Any) -> None:
    """Add ``new`` (and its one subject so far, ``plugin``) to the ``mlpspec`` parser."""
    p = sub.add_parser("new", help="start a new plugin package from a working example")
    what = p.add_subparsers(title="what", required=True, metavar="plugin")
    q = what.add_parser(
        "plugin",
        help="write a plugin package that installs and passes mlpspec check as written",
        description="Write the package mlpspec-NAME: pyproject.toml with the entry point, one "
        "example component per kind, tests running the conformance kit, an example spec, a "
        "README.",
    )
    q.add_argument("name", help="the plugin's name, e.g. extras (the package is mlpspec-extras)")
    q.add_argument(
        "--kinds",
        default=",".join(KINDS),
        metavar="KIND,...",
        help=f"which kinds to write an example of (default: all: {','.join(KINDS)})",
    )
    q.add_argument(
        "--dir", type=Path, help="where to write it, absent or empty (default: ./mlpspec-NAME)"
    )
    q.set_defaults(command=cmd_new_plugin)


@dataclass(frozen=True)
class Names:
    """What one plugin name becomes."""

    plugin: str
    """The entry point's name and the components' prefix: ``extras``."""

    @property
    def dist(self) -> str:
        return "mlpspec-" + self.plugin.replace("_", "-")

    @property
    def package(self) -> str:
        return "mlpspec_" + self.plugin


def plugin_names(name: str) -> Names:
    """``extras``, ``mlpspec-extras`` or ``mlpspec_extras`` all name the plugin ``extras``."""
    plugin = re.sub(r"^mlpspec[-_]", "", name.strip().lower()).replace("-", "_")
    if not _NAME.fullmatch(plugin):
        raise UsageError(
            f"{name!r} is not a plugin name: use lower-case letters, digits and underscores, "
            "starting with a letter (e.g. extras)"
        )
    return Names(plugin)


def chosen_kinds(text: str) -> list[str]:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise UsageError(
            f"--kinds takes a comma-separated list of {', '.join(KINDS)} (got {text!r})"
        )
    return [kind for kind in KINDS if kind in kinds]  # the guide's order, each once


def write_plugin(folder: Path, names: Names, kinds: Sequence[str]) -> list[Path]:
    """Write the package into ``folder`` (absent or empty); returns the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} exists and is not an empty folder: give --dir another one")
    examples = [templates.EXAMPLES[kind] for kind in kinds]
    components = ", ".join(f"{e.kind} {names.plugin}.{e.component}" for e in examples)
    values = {
        "plugin": names.plugin,
        "package": names.package,
        "dist": names.dist,
        "summary": f"mlpspec components: {components}.",
        "mlpspec_version": __version__,
    }
    files = {
        "pyproject.toml": templates.PYPROJECT,
        "README.md": templates.README.replace("$components", _component_list(names, examples)),
        f"{names.package}/__init__.py": templates.INIT,
        f"{names.package}/plugin.py": _plugin_module(examples),
        "tests/test_conformance.py": templates.CONFORMANCE_TEST,
        f"tests/test_{names.plugin}.py": _component_tests(examples),
        "example.toml": _example_spec(names, kinds),
    }
    files |= {f"{names.package}/{e.module}.py": e.code for e in examples}
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
        written.append(path)
    return written


def _component_list(names: Names, examples: Sequence[templates.Example]) -> str:
    return "\n".join(
        f"- `{names.plugin}.{e.component}` ({e.kind}, `{names.package}/{e.module}.py`)"
        for e in examples
    )


def _plugin_module(examples: Sequence[templates.Example]) -> str:
    imports = "".join(
        f"from $package.{e.module} import {', '.join(e.names)}\n"
        for e in sorted(examples, key=lambda e: e.module)
    )
    hooks = "".join(
        f"\n\n@hookimpl\ndef {e.hook}(register):\n    {e.register}\n" for e in examples
    )
    return templates.PLUGIN_HEADER + imports + templates.PLUGIN_API + hooks


def _component_tests(examples: Sequence[templates.Example]) -> str:
    needs = [name for name in ("build_layer", "create") if any(name in e.test for e in examples)]
    text = templates.COMPONENT_TESTS.replace(
        "from mlpspec.testing import build_layer, create\n",
        f"from mlpspec.testing import {', '.join(needs)}\n" if needs else "",
    )
    return text + "".join(f"\n\n{e.test}" for e in examples)


def _example_spec(names: Names, kinds: Sequence[str]) -> str:
    """A spec that trains in a second with every chosen component, built-ins for the rest."""

    def own(kind: str, builtin: str) -> str:
        example = templates.EXAMPLES[kind]
        return f"{names.plugin}.{example.component}" if kind in kinds else builtin

    dataset = (
        f'{{ type = "{own("dataset", "")}", classes = 3, points = 200 }}'
        if "dataset" in kinds
        else '{ type = "spirals", classes = 3, points = 300, turns = 0.5 }'
    )
    activation = own("activation", "tanh")
    lines = [
        "# An example spec using the components of $dist; train it with",
        "#   mlpspec run example.toml --no-save",
        "[model]",
        'name = "$plugin-example"',
        "",
        "[data]",
        f"dataset = {dataset}",
        "validation = 60",
        "",
        "[[layers]]",
        'type = "dense"',
        "units = 32",
        f'activation = "{activation}"',
    ]
    if "initializer" in kinds:
        lines.append(f'init = "{own("initializer", "")}"')
    if "layer" in kinds:
        lines += ["", "[[layers]]", f'type = "{own("layer", "")}"', f'activation = "{activation}"']
    lines += [
        "",
        "[[layers]]",
        'type = "dense"',
        "units = 3",
        "",
        "[loss]",
        f'type = "{own("loss", "softmax_cross_entropy")}"',
        "",
        "[optimizer]",
        f'type = "{own("optimizer", "sgd_momentum")}"',
        f"lr = {0.5 if 'optimizer' in kinds else 0.1}",
    ]
    if "scheduler" in kinds:
        lines += ["", "[scheduler]", f'type = "{own("scheduler", "")}"', "warmup_epochs = 2"]
    metrics = ", ".join(f'"{m}"' for m in ["accuracy", own("metric", "")] if m)
    lines += ["", "[train]", "epochs = 40", "batch_size = 32", f"metrics = [{metrics}]", ""]
    return "\n".join(lines)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    names = plugin_names(args.name)
    kinds = chosen_kinds(args.kinds)
    folder = args.dir if args.dir is not None else Path(names.dist)
    _warn_if_taken(names)
    written = write_plugin(folder, names, kinds)
    print(f"wrote {names.dist} in {folder} ({len(written)} files): {', '.join(kinds)}")
    python = Path(sys.executable)
    print(
        "next, in the environment mlpspec runs from:\n"
        f"  cd {folder}\n"
        f'  {python} -m pip install -e ".[test]"\n'
        f"  mlpspec check --package {names.dist}\n"
        f"  {python} -m pytest\n"
        "  mlpspec run example.toml --no-save"
    )
    return 0


def _warn_if_taken(names: Names) -> None:
    """An installed plugin of the same name would make the new one's load fail later."""
    from mlpspec.core.plugins import discover

    for source in discover():
        provider = source.provider
        if names.plugin == provider.plugin or names.dist == provider.distribution:
            warn(
                f"{provider.describe()} is installed already: the new package's "
                f"plugin {names.plugin!r} would clash with it; pick another name"
            )
            return
