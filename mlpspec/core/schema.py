"""The JSON Schema of a spec, with the params of every installed component, for editors.

Built from the same registry table that validates specs, so that what an editor completes
and flags is what ``mlpspec run`` accepts. Each component becomes a definition of its own
(its params model's schema plus ``type`` as a constant, ``component.KIND.NAME``) and each kind
one definition (``component.KIND``) that accepts the bare name of a component whose params all
have defaults, or a table whose ``type`` is one of the kind's names and whose keys are that
component's params. Every ``component_ref`` field of the spec and of the params models points
at its kind's definition, so nested references (a dense layer's activation) complete as well.

The kind's definition dispatches on ``type`` with ``if``/``then`` rather than a ``oneOf`` over
the components: a ``oneOf`` fails as a whole ("not valid under any of the schemas"), so an
editor could only underline the table, while ``then`` reports the one broken field, once,
with its cause. An unknown key is refused where it stands (``additionalProperties`` is a
schema that no value meets, titled with the keys the component takes) rather than on the
whole table. The components are also listed in an ``anyOf`` that an empty schema always
satisfies: it validates nothing, and is there for editors, which gather completions and hover
text from ``anyOf``/``oneOf`` members but not from ``then``.

Draft 7 is what taplo (and so Even Better TOML) reads; pydantic's output uses nothing of the
2020-12 draft beyond ``$defs``, which draft-7 validators resolve as a plain JSON pointer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mlpspec.core.kinds import KIND_TABLE
from mlpspec.core.registry import Component, Registry
from mlpspec.core.spec import COMPONENT_MARKER, Spec

DRAFT = "http://json-schema.org/draft-07/schema#"
DEFS = "#/$defs/"


def spec_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a spec that may use any component of ``registry``."""
    components = list(registry.components())
    models: list[type[BaseModel]] = [Spec, *{c.params: None for c in components}]
    refs, schema = models_json_schema(
        [(model, "validation") for model in models], ref_template=DEFS + "{model}"
    )
    defs: dict[str, Any] = schema["$defs"]
    for kind in (kind.name for kind in KIND_TABLE if kind.in_spec):
        for c in registry.components(kind):
            defs[f"component.{kind}.{c.name}"] = _branch(c, defs[_def_name(refs, c.params)])
        defs[f"component.{kind}"] = _union(kind, registry)
    root = defs.pop(_def_name(refs, Spec))
    result = _replace_markers({"$schema": DRAFT, **root, "title": "mlpspec spec", "$defs": defs})
    _drop_unreferenced(result, {_def_name(refs, model) for model in models[1:]})
    return result


def component_schema(component: Component) -> dict[str, Any]:
    """The JSON Schema of one component's params table, ``type`` included, on its own.

    References to other components accept any value here: what they may be depends on the
    rest of the registry, which :func:`spec_schema` has and this does not.
    """
    schema = component.params.model_json_schema(mode="validation", ref_template=DEFS + "{model}")
    defs = schema.pop("$defs", {})
    branch = _branch(component, schema)
    if defs:
        branch["$defs"] = defs
    return {"$schema": DRAFT, **_replace_markers(branch, lambda kind: {})}


def _def_name(refs: dict[Any, Any], model: type[BaseModel]) -> str:
    return refs[(model, "validation")]["$ref"].removeprefix(DEFS)


def _branch(component: Component, params_schema: dict[str, Any]) -> dict[str, Any]:
    """A component's params schema with ``type = "<name>"`` required in front, and unknown
    keys refused each at its own place, saying which keys there are."""
    branch = copy.deepcopy(params_schema)
    branch["title"] = f"{component.kind} {component.name}"
    if component.summary:
        branch["description"] = component.summary
    keys = list(branch.get("properties", {}))
    takes = f"takes {', '.join(keys)}" if keys else "takes no parameters"
    branch["properties"] = {"type": {"const": component.name}, **branch.get("properties", {})}
    branch["required"] = ["type", *branch.get("required", [])]
    branch["additionalProperties"] = {
        "not": {"title": f"unknown key: {component.kind} '{component.name}' {takes}"}
    }
    branch["type"] = "object"
    return branch


def _union(kind: str, registry: Registry) -> dict[str, Any]:
    """The definition of ``kind``: a bare name, or a table dispatched on its ``type`` to the
    component's own definition (``component.KIND.NAME``)."""
    components = list(registry.components(kind))
    bare = [
        c.name
        for c in components
        if not any(field.is_required() for field in c.params.model_fields.values())
    ]
    refs = {c.name: {"$ref": f"{DEFS}component.{kind}.{c.name}"} for c in components}
    union: dict[str, Any] = {
        "title": kind,
        "description": f"{_article(kind)} {kind}: a name, or a table with 'type' and its params",
        "type": ["string", "object"] if bare else "object",
    }
    if bare:
        union |= {"if": {"type": "string"}, "then": {"enum": bare}}
    if refs:
        union["required"] = ["type"]
        union["properties"] = {
            "type": {"description": f"the {kind}: mlpspec list {kind}", "enum": list(refs)}
        }
        union["allOf"] = [
            {
                "if": {
                    "type": "object",
                    "properties": {"type": {"const": name}},
                    "required": ["type"],
                },
                "then": ref,
            }
            for name, ref in refs.items()
        ]
    strings = [{"type": "string", "enum": bare}] if bare else []
    union["anyOf"] = [{}, *strings, *refs.values()]  # for editors: see the module's docstring
    return union


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _kind_ref(kind: str) -> dict[str, Any]:
    return {"$ref": f"{DEFS}component.{kind}"}


def _replace_markers(node: Any, target: Callable[[str], dict[str, Any]] = _kind_ref) -> Any:
    """Replace each component-reference placeholder by ``target(kind)``, keeping its title
    and default (for editors' hover text)."""
    if isinstance(node, dict):
        if COMPONENT_MARKER in node:
            rest = {k: v for k, v in node.items() if k != COMPONENT_MARKER}
            return {**target(node[COMPONENT_MARKER]), **rest}
        return {key: _replace_markers(value, target) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_markers(item, target) for item in node]
    return node


def _drop_unreferenced(schema: dict[str, Any], candidates: set[str]) -> None:
    """Remove the params models' own definitions, now inlined into the unions' branches,
    unless something still points at one (a params model used inside another)."""
    text = json.dumps(schema)
    for name in candidates:
        if f'"{DEFS}{name}"' not in text:
            del schema["$defs"][name]
