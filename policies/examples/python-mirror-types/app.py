"""mirror-types, in Python: a one-way mirror of chosen file types that never
deletes. A port of the Rust example in ../mirror-types, planning exactly as it
does (the host's tests run both on the same table).

Build (from the repository root):

    pip install componentize-py==0.25.1
    componentize-py -d wit -w policy-component componentize app \
        -p policies/examples/python-mirror-types --stub-wasi -o mirror_types_py.wasm
    conduit policy install mirror_types_py.wasm

`--stub-wasi` matters: without it the CPython runtime imports WASI's
filesystem (and more), which Conduit's sandbox refuses.
"""

from typing import List, Optional

import wit_world
from wit_world.exports import policy as p
from componentize_py_types import Err

DEFAULT_TYPES = "jpg,jpeg,png,gif,heic,webp,dng,mp4,mov"


def _setting(context: p.Context, name: str):
    for s in context.settings:
        if s.name == name:
            return s.value.value
    return None


def _wanted(text: str):
    parts = text.replace(",", " ").split()
    exts = []
    for t in parts:
        t = t.strip()
        if t.startswith("*."):
            t = t[2:]
        t = t.lstrip(".")
        if t:
            exts.append(t.lower())
    return "*" in exts, exts


def _extension(path: str) -> Optional[str]:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return None
    return name[dot + 1:].lower()


def _same_content(a: p.State, b: p.State) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == p.Kind.DIRECTORY:
        return True
    return a.digest is not None and a.digest == b.digest


def _act(i: int, op) -> p.Action:
    return p.Action(entry=i, operation=op)


def _copy(i: int) -> p.Action:
    return _act(i, p.Operation_Copy(p.Transfer(from_=p.Side.SOURCE, to_path=None)))


def _skip(i: int, reason: str) -> p.Action:
    return _act(i, p.Operation_Skip(reason))


class Policy(wit_world.exports.Policy):
    def describe(self) -> p.Info:
        return p.Info(
            name="mirror-types-py",
            version="0.1.0",
            summary="One-way mirror of chosen file types that never deletes (Python).",
            options=[
                p.OptionSpec(
                    name="types",
                    type=p.OptionType_Text(),
                    default=p.Value_Text(DEFAULT_TYPES),
                    help="File extensions to mirror, comma-separated, case-insensitive; `*` for every file.",
                ),
                p.OptionSpec(
                    name="max-size",
                    type=p.OptionType_Size(),
                    default=None,
                    help="Leave files larger than this in the source only (skipped, and reported).",
                ),
                p.OptionSpec(
                    name="overwrite",
                    type=p.OptionType_Choice(["newer", "always", "never"]),
                    default=p.Value_Choice("newer"),
                    help="When the destination holds another version: replace it if the source's is newer, always, or never.",
                ),
            ],
            scope=p.Scope.CHANGES,
        )

    def plan(self, context: p.Context, entries: List[p.Entry]) -> List[p.Action]:
        every, exts = _wanted(_setting(context, "types") or DEFAULT_TYPES)
        max_size = _setting(context, "max-size")
        overwrite = _setting(context, "overwrite") or "newer"
        if overwrite not in ("newer", "always", "never"):
            raise Err(f"unknown overwrite mode {overwrite!r}")
        plan = []
        for i, e in enumerate(entries):
            a = e.source
            if a is None or a.kind != p.Kind.FILE:
                continue
            if not every and _extension(e.path) not in exts:
                continue
            if max_size is not None and a.size > max_size:
                plan.append(_skip(i, "larger than max-size"))
                continue
            if a.digest is None:
                plan.append(_skip(i, "the source file could not be read"))
                continue
            b = e.destination
            if b is None:
                plan.append(_copy(i))
            elif _same_content(a, b):
                plan.append(_act(i, p.Operation_Accept()))
            elif b.kind != p.Kind.FILE:
                plan.append(_skip(i, "the destination has a folder or link at this path; this mirror never deletes"))
            elif overwrite == "always" or (overwrite == "newer" and a.mtime_ns > b.mtime_ns):
                plan.append(_copy(i))
            elif overwrite == "newer":
                plan.append(_skip(i, "the destination's version is newer"))
            else:
                plan.append(_skip(i, "the destination holds another version (overwrite=never)"))
        return plan
