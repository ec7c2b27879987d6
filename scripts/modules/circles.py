#!/usr/bin/env python3
"""Lists import circles between the modules of a crate's src/ folder.

A module is a file (foo.rs or foo/mod.rs). It uses another when its code
(comments left out) names a path into it: `crate::a::b`, `super::b`,
`self::b`, or `b::` for a module it declares with `mod b;`. A child naming
its parent's own items (`super::Item`) is a use of the parent, so a parent
and child that use each other are a circle too. A circle is a strongly
connected set of two or more modules. Exit 1 if there is one.

usage: circles.py SRC_DIR [SRC_DIR...]
"""
import re
import sys
from pathlib import Path


def modules(src: Path):
    found = {}
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = []
        found[tuple(parts)] = path
    return found


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def uses(module, text, known):
    out = set()
    # `$crate::` in a macro names the crate's root for its callers: no import
    for m in re.finditer(r"(?<!\$)\b(crate|super|self)((?:::\w+)+)", text):
        head, tail = m.group(1), m.group(2).split("::")[1:]
        if head == "crate":
            base = []
        elif head == "super":
            base = list(module[:-1])
        else:
            base = list(module)
        path = base + tail
        # the longest known module that prefixes the path
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in known:
                out.add(tuple(path[:n]))
                break
    # a path that starts at one of its own child modules (`child::Item`)
    for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, flags=re.M):
        if module + (child,) in known and re.search(rf"(?<![\w:]){child}::", text):
            out.add(module + (child,))
    return {u for u in out if u != module}


def circles(src: Path):
    known = modules(src)
    graph = {}
    for module, path in known.items():
        text = strip_comments(path.read_text())
        targets = set()
        for used in uses(module, text, known):
            # a use of a child module of another top module counts for the module itself too
            targets.add(used)
        graph[module] = targets
    # Tarjan
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out, known


def name(module):
    return "::".join(module) or "crate"


def main():
    failed = False
    for arg in sys.argv[1:]:
        src = Path(arg)
        found, known = circles(src)
        for group in found:
            failed = True
            files = ", ".join(str(known[m].relative_to(src.parent)) for m in group)
            print(f"circle in {src}: {files}")
        if not found:
            print(f"{src}: {len(known)} modules, no import circle")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
