"""Is a contract's current JSON Schema an additive evolution of a committed snapshot?

Allowed: new optional properties, new enum values, changed titles and descriptions.
Reported: a removed property (a rename is a removal plus an addition), a changed type, a new
required property, an optional property becoming required, removed enum values, a changed
format, pattern or bound, and any of these inside nested models (``$defs``), arrays and unions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Schema = dict[str, Any]

# Keys that document a schema without constraining what it accepts.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly"}
    | {"writeOnly", "$defs", "definitions", "discriminator"}
)
# Keys compared structurally below rather than by equality.
_STRUCTURE = frozenset(
    {"$ref", "type", "properties", "required", "items", "prefixItems", "anyOf", "oneOf"}
    | {"allOf", "enum", "const", "additionalProperties"}
)


def check_schema(old: Schema, new: Schema, name: str = "") -> list[str]:
    """Every non-additive change from ``old`` to ``new``, as human-readable sentences."""
    walker = _Walker(old, new)
    walker.compare(old, new, name or str(new.get("title", "schema")))
    return walker.problems


class _Walker:
    def __init__(self, old_root: Schema, new_root: Schema, active: frozenset[Any] = frozenset()):
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        # ($ref, $ref) pairs being compared further up this path: a recursive model stops here.
        self.active = set(active)

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        pair = (old.get("$ref"), new.get("$ref"))
        if not (pair[0] and pair[1]):
            self._compare_resolved(old, new, path)
        elif pair not in self.active:
            self.active.add(pair)
            try:
                self._compare_resolved(old, new, path)
            finally:
                self.active.discard(pair)

    def _compare_resolved(self, old: Schema, new: Schema, path: str) -> None:
        old, new = _resolve(old, self.old_root), _resolve(new, self.new_root)
        old_branches, new_branches = _branches(old, self.old_root), _branches(new, self.new_root)
        if len(old_branches) > 1 or len(new_branches) > 1:
            self._compare_union(old_branches, new_branches, path)
            return
        old_types, new_types = _types(old), _types(new)
        if old_types != new_types:
            self._report(path, f"type changed from {_show(old_types)} to {_show(new_types)}")
            return
        self._compare_enum(old, new, path)
        for key in sorted((old.keys() | new.keys()) - _ANNOTATIONS - _STRUCTURE):
            if key.startswith("x-"):
                continue
            if old.get(key) != new.get(key):
                what = f"{key} changed from {old.get(key)!r} to {new.get(key)!r}"
                self._report(path, what)
        self._compare_object(old, new, path)
        self._compare_array(old, new, path)

    def fits(self, old: Schema, new: Schema) -> bool:
        probe = _Walker(self.old_root, self.new_root, frozenset(self.active))
        probe.compare(old, new, "")
        return not probe.problems

    def _report(self, path: str, what: str) -> None:
        self.problems.append(f"{path}: {what}")

    def _compare_union(self, olds: list[Schema], news: list[Schema], path: str) -> None:
        unmatched_old = [o for o in olds if not any(self.fits(o, n) for n in news)]
        unmatched_new = [n for n in news if not any(self.fits(o, n) for o in olds)]
        for o in list(unmatched_old):
            twin = next((n for n in unmatched_new if _types(n) == _types(o)), None)
            if twin is not None:
                # Same kind of value on both sides: report what changed inside it.
                self.compare(o, twin, path)
                unmatched_old.remove(o)
                unmatched_new.remove(twin)
        if unmatched_old or unmatched_new:
            before = _show(set().union(*(_types(b) for b in olds)))
            after = _show(set().union(*(_types(b) for b in news)))
            self._report(path, f"type changed from {before} to {after}")

    def _compare_enum(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _enum(old), _enum(new)
        if new_values is None:
            return
        if old_values is None:
            self._report(path, f"now restricted to the values {sorted(map(str, new_values))}")
            return
        removed = [v for v in old_values if v not in new_values]
        if removed:
            self._report(path, f"enum values removed: {', '.join(map(str, removed))}")

    def _compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for prop in old_props:
            if prop not in new_props:
                self._report(f"{path}.{prop}", "property removed (or renamed)")
        for prop in new_props:
            if prop not in old_props:
                if prop in new_required:
                    self._report(f"{path}.{prop}", "new required property")
                continue
            if prop in new_required and prop not in old_required:
                self._report(f"{path}.{prop}", "optional property became required")
            self.compare(old_props[prop], new_props[prop], f"{path}.{prop}")
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if isinstance(old_extra, dict) and isinstance(new_extra, dict):
            self.compare(old_extra, new_extra, f"{path}{{*}}")
        elif old_extra != new_extra:
            self._report(path, f"additionalProperties changed from {old_extra} to {new_extra}")

    def _compare_array(self, old: Schema, new: Schema, path: str) -> None:
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, dict) and isinstance(new_items, dict):
            self.compare(old_items, new_items, f"{path}[]")
        elif old_items != new_items:
            self._report(path, "array items changed")
        old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(old_prefix) != len(new_prefix):
            self._report(path, "tuple length changed")
        for index, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            self.compare(o, n, f"{path}[{index}]")


def _resolve(node: Schema, root: Schema) -> Schema:
    """Follow ``$ref`` (keeping sibling keys) and unwrap a single-element ``allOf``."""
    seen: set[str] = set()
    while True:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**_lookup(ref, root), **siblings}
            continue
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            siblings = {k: v for k, v in node.items() if k != "allOf"}
            node = {**all_of[0], **siblings}
            continue
        return node


def _lookup(ref: str, root: Schema) -> Schema:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, dict):
        raise ValueError(f"{ref!r} does not point at a schema")
    return node


def _branches(node: Schema, root: Schema) -> list[Schema]:
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            out: list[Schema] = []
            for branch in node[key]:
                out.extend(_branches(_resolve(branch, root), root))
            return out
    return [node]


def _types(node: Schema) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = _enum(node)
    if values is not None:
        return {_json_type(v) for v in values}
    return {"any"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _enum(node: Schema) -> list[Any] | None:
    if "const" in node:
        return [node["const"]]
    values = node.get("enum")
    return list(values) if isinstance(values, list) else None


def _show(types: Iterable[str]) -> str:
    return "|".join(sorted(types)) or "nothing"
