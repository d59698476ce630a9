#!/usr/bin/env python3
"""The layering of src/, checked: which library folder imports which (from
the `crate::`, `super::`, `self::` and child-module paths in code, comments
and `#[cfg(test)]` modules left out), every import that runs upward or
sideways against the layer order below (the one in src/lib.rs's doc), and
every cycle between modules of the library and of the command
(src/bin/pam-totp). Exits 1 if there is either.

Usage: python3 scripts/layers.py [REPO_ROOT]"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else '.'
RANK = {'text': 0, 'system': 1, 'config': 2, 'otp': 3, 'store': 4, 'enroll': 5,
        'auth': 6, 'check': 6, 'import': 6}

def modules(base):
    mods = {}
    for dirpath, _, files in os.walk(base):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, base)[:-3].split(os.sep)
            if rel[-1] in ('mod', 'lib', 'main'): rel = rel[:-1]
            mods[tuple(rel)] = p
    return mods

def code_lines(path):
    depth = None; brace = 0; pending = False
    for line in open(path):
        s = line.strip()
        if depth is None and s.startswith('#[cfg(test)]'):
            pending = True; continue
        if pending:
            pending = False
            if s.startswith('mod ') or s.startswith('pub(crate) mod '):
                if s.endswith(';'): continue
                depth = 0
        if depth is not None:
            depth += line.count('{') - line.count('}')
            if depth <= 0 and ('}' in line): depth = None
            continue
        if s.startswith('//'): continue
        yield line.split('//')[0]

def graph(base, prefix):
    mods = modules(base)
    edges = set()
    pat = re.compile(r'(?<![:\w])(crate|super|self|[a-z_][a-z0-9_]*)((?:::(?:[A-Za-z_]\w*|\{))+)')
    for mod, path in mods.items():
        if prefix == 'lib' and mod and mod[0] == 'bin': continue
        is_dir = os.path.basename(path) in ('mod.rs', 'lib.rs', 'main.rs')
        for line in code_lines(path):
            for kind, rest in pat.findall(line):
                segs = tuple(x for x in rest.strip(':').split('::') if x and x != '{')
                if kind not in ('crate', 'super', 'self'):
                    if not is_dir or mod + (kind,) not in mods: continue
                    target = mod + (kind,) + segs
                elif kind == 'crate': target = segs
                elif kind == 'self': target = mod + segs if is_dir else mod + segs
                else:
                    parent = mod if is_dir else mod[:-1]
                    # super from a file module = its parent folder's module
                    parent = mod[:-1]
                    target = parent + segs
                # longest module prefix
                for n in range(len(target), -1, -1):
                    if target[:n] in mods: t = target[:n]; break
                if t != mod and not (len(t) < len(mod) and mod[:len(t)] == t and False):
                    edges.add((mod, t))
    return mods, edges

def name(m): return '::'.join(m) or 'crate'

def cycles(edges):
    adj = {}
    for a, b in edges: adj.setdefault(a, set()).add(b)
    # Tarjan SCC
    index = {}; low = {}; stack = []; on = set(); out = []; i = [0]
    def strong(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in adj.get(v, ()):
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(comp)
    sys.setrecursionlimit(10000)
    for v in list(adj):
        if v not in index: strong(v)
    return out

lib_mods, lib_edges = graph(os.path.join(root, 'src'), 'lib')
bin_mods, bin_edges = graph(os.path.join(root, 'src/bin/pam-totp'), 'bin')
folder = {}
for a, b in lib_edges:
    if a and b and a[0] != b[0]: folder.setdefault(a[0], set()).add(b[0])
print('folder imports (lib):')
for f in sorted(folder, key=lambda f: RANK.get(f, 9)):
    print(f'  {f:8} -> {", ".join(sorted(folder[f], key=lambda f: RANK.get(f, 9)))}')
up = [(a, b) for a, b in lib_edges if a and b and a[0] != b[0] and RANK.get(b[0], 9) >= RANK.get(a[0], 9)]
print('upward or sideways imports between folders:', len(up))
for a, b in sorted(up): print('  ', name(a), '->', name(b))
bad_cycles = 0
for label, edges in (('lib', lib_edges), ('bin', bin_edges)):
    # A `pub mod` declaration is no import; a re-export (`pub use child::X`) is.
    cyc = cycles(edges)
    print(f'module cycles ({label}):', len(cyc))
    for c in cyc: print('   ', ' <-> '.join(sorted(name(m) for m in c)))
    bad_cycles += len(cyc)
sys.exit(1 if up or bad_cycles else 0)
