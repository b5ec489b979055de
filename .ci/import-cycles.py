#!/usr/bin/env python3
"""Reports import cycles among the top-level modules of each crate under crates/*/src.

A crate's top-level module `foo` is `src/foo.rs`, `src/foo/mod.rs` and everything under
`src/foo/` (for a binary, the modules its `main.rs` declares). An edge foo -> bar is any path in
foo's files that reaches bar: `crate::bar::...`, `use crate::{bar::..}`, `super::...` resolved
against the file's own module path, or `crate::Name` where the crate root re-exports `Name` from
bar (`pub use bar::Name;`). Paths to the crate root itself are not edges (the root declares every
module, so it would close a cycle with each). Test code is left out: `#[cfg(test)]` items and the
files of `#[cfg(test)] mod x;` declarations, and files named `tests.rs` or `*_tests.rs`.

Usage: .ci/import-cycles.py [CRATE_DIR...]   (default: every crates/*). Prints each cycle,
exits 1 if there is any. Python 3, no dependencies.
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments_and_strings(src):
    """Blanks comments, string and char literals (keeping newlines), so paths in them are not
    read as code."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * src.count("\n", i, j))
            i = j
        elif m := re.match(r'b?r(#*)"', src[i:i + 260]) if c in "br" else None:
            if i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_"):
                out.append(c)
                i += 1
                continue
            end = '"' + m.group(1)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): only the former ends
            # with a quote soon after.
            m = re.match(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", src[i:i + 12])
            if m:
                out.append("' '")
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


CFG_TEST = re.compile(r"#\[cfg\((test|all\(test\b[^\]]*|any\(test\b[^\]]*)\)\]")


def drop_test_items(code):
    """Blanks every item under `#[cfg(test)]`; returns (code, names of `#[cfg(test)] mod x;`)."""
    test_mods = set()
    while m := CFG_TEST.search(code):
        j = m.end()
        # Further attributes, then the item: up to its `;` or its matching `}`.
        while a := re.match(r"\s*#\[[^\]]*\]", code[j:]):
            j += a.end()
        semi, brace = code.find(";", j), code.find("{", j)
        if brace < 0 or (0 <= semi < brace):
            end = semi
            if d := re.match(r"\s*(pub(\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", code[j:]):
                test_mods.add(d.group(3))
        else:
            end = matching_brace(code, brace)
        code = code[:m.start()] + "\n" * code.count("\n", m.start(), end + 1) + code[end + 1:]
    return code, test_mods


def inline_modules(code):
    """(start, end, name) of each inline `mod name { ... }`."""
    spans = []
    for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", code):
        spans.append((m.end() - 1, matching_brace(code, m.end() - 1), m.group(1)))
    return spans


def split_top(s):
    """Splits `a, b::{c, d}, e` at top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def expand_use_tree(tree):
    """`a::{b, c::d}` -> [[a, b], [a, c, d]] (only as deep as needed: first segments matter)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+" + IDENT, "", tree))
    m = re.match(r"((?:" + IDENT + r"::)*)\{(.*)\}$", tree)
    if m:
        prefix = [s for s in m.group(1).split("::") if s]
        return [prefix + rest for part in split_top(m.group(2)) for rest in expand_use_tree(part)]
    tree = tree.replace("::*", "")
    return [[s for s in tree.split("::") if s]]


def paths_in(code):
    """Every path that starts with crate/super/self, as (start offset, segments)."""
    found = []
    consumed = []
    for m in re.finditer(r"\buse\s+([^;]*);", code):
        tree = m.group(1)
        for segs in expand_use_tree(tree):
            if segs and segs[0] in ("crate", "$crate", "super", "self"):
                found.append((m.start(), segs))
        consumed.append((m.start(), m.end()))
    for m in re.finditer(r"(?<![\w:])(\$?crate|super|self)((?:::" + IDENT + r")+)", code):
        if any(a <= m.start() < b for a, b in consumed):
            continue
        if re.search(r"\bin\s*$", code[max(0, m.start() - 8):m.start()]):
            continue  # pub(in crate::x) is a visibility, not an import
        segs = [m.group(1)] + [s for s in m.group(2).split("::") if s]
        if segs[0] == "self" and len(segs) < 2:
            continue
        found.append((m.start(), segs))
    return found


def absolute(segs, here):
    """Resolves a path against the module path `here` (a list); returns crate-absolute segments
    (without `crate`), or None when it does not start at this crate."""
    head = segs[0]
    if head in ("crate", "$crate"):
        return segs[1:]
    if head == "self":
        return here + segs[1:]
    if head == "super":
        base, rest = list(here), list(segs)
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
        if rest and rest[0] == "self":
            rest = rest[1:]
        return base + rest
    return None


def crate_roots(src):
    roots = []
    for name in ("lib.rs", "main.rs"):
        if (src / name).is_file():
            roots.append((src / name, src))
    bins = src / "bin"
    if bins.is_dir():
        for f in sorted(bins.glob("*.rs")):
            roots.append((f, bins))
        for d in sorted(p for p in bins.iterdir() if (p / "main.rs").is_file()):
            roots.append((d / "main.rs", d))
    return roots


def module_files(base, name):
    files = []
    for f in (base / f"{name}.rs", base / name / "mod.rs"):
        if f.is_file():
            files.append(f)
    if (base / name).is_dir():
        files += sorted(p for p in (base / name).rglob("*.rs") if p not in files)
    return files


def is_test_file(f):
    return f.name == "tests.rs" or f.name.endswith("_tests.rs")


def module_path_of(f, base, top):
    """The module path of file `f` of top-level module `top`."""
    rel = f.relative_to(base).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return parts if parts and parts[0] == top else [top]


def analyse(root, base):
    root_code, root_test_mods = drop_test_items(strip_comments_and_strings(root.read_text()))
    declared = [
        m.group(1)
        for m in re.finditer(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", root_code)
    ]
    inline = {name: (a, b) for a, b, name in inline_modules(root_code)}
    tops = set(declared) | set(inline)
    # Names the root re-exports from a module: `pub use foo::{A, B as C};`
    reexport = {}
    for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]*);", root_code):
        for segs in expand_use_tree(m.group(1)):
            segs = segs[1:] if segs and segs[0] in ("crate", "self") else segs
            if len(segs) >= 2 and segs[0] in tops:
                alias = re.search(r"\b" + re.escape(segs[-1]) + r"\s+as\s+(" + IDENT + ")", m.group(1))
                reexport[alias.group(1) if alias else segs[-1]] = segs[0]

    edges = {t: set() for t in tops}
    where = {}

    def resolve(segs, here, top, f):
        abs_segs = absolute(segs, here)
        if not abs_segs:
            return
        first = abs_segs[0]
        target = first if first in tops else reexport.get(first)
        if target and target != top:
            edges[top].add(target)
            where.setdefault((top, target), f)

    def scan(code, here_of, f):
        for pos, segs in paths_in(code):
            here = here_of(pos)
            if here:
                resolve(segs, here, here[0], f)

    # Inline top-level modules in the root file.
    spans = inline_modules(root_code)

    def here_in_root(pos):
        path = []
        for a, b, name in spans:
            if a < pos < b:
                path.append(name)
        return path

    scan(root_code, here_in_root, root)

    for top in declared:
        if top in root_test_mods:
            continue
        for f in module_files(base, top):
            if is_test_file(f) or in_test_module(f, base):
                continue
            code = drop_test_items(strip_comments_and_strings(f.read_text()))[0]
            here0 = module_path_of(f, base, top)
            fspans = inline_modules(code)

            def here_of(pos, here0=here0, fspans=fspans):
                return here0 + [name for a, b, name in fspans if a < pos < b]

            scan(code, here_of, f)
    return edges, where


def in_test_module(f, base):
    """True when `f` or a module above it (below the top level) is declared `#[cfg(test)]`."""
    node = f.parent / f.stem if f.stem != "mod" else f.parent
    while node.parent != base:
        parent_files = [node.parent / "mod.rs", node.parent.with_suffix(".rs")]
        for c in parent_files:
            if c.is_file() and node.name in drop_test_items(strip_comments_and_strings(c.read_text()))[1]:
                return True
        node = node.parent
    return False


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan), each with one cycle."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def one_cycle(edges, comp):
    """A shortest cycle through the component's first module, for the message."""
    start = comp[0]
    members = set(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def main(argv):
    repo = Path(__file__).resolve().parent.parent
    crates = [Path(a) for a in argv] or sorted(p for p in (repo / "crates").iterdir() if (p / "src").is_dir())
    found = 0
    for crate in crates:
        for root, base in crate_roots(crate / "src"):
            edges, where = analyse(root, base)
            for comp in cycles(edges):
                found += 1
                cycle = one_cycle(edges, comp)
                print(f"{crate.name} ({root.relative_to(crate)}): cycle among {{{', '.join(comp)}}}: "
                      + " -> ".join(cycle))
                inside = sorted((a, b) for a in comp for b in edges[a] if b in comp)
                for a, b in inside:
                    print(f"    {a} -> {b}  (e.g. {where[(a, b)].relative_to(crate)})")
    if found:
        print(f"{found} import cycle(s)")
        return 1
    print("no import cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
