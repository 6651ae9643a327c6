"""vitlab's module-level import graph: who imports whom at import time, any cycle, any private name imported across modules.

    python scripts/import_graph.py [--dot]

Imports inside functions (deferred, e.g. the export stack loaded only when a file is written) are not edges: they do
not run when a module is imported. Exits non-zero when there is a cycle, an import of a later stage of the data flow (`STAGES`) or a private cross-module
import."""
import ast, sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent/'vitlab'

def module_name(path:Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)

def resolve(mod:str, is_pkg:bool, node:ast.ImportFrom) -> str:
    "The absolute module an `ImportFrom` names."
    if not node.level: return node.module or ''
    base = mod.split('.') if is_pkg else mod.split('.')[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))

def graph():
    "`(edges, private)`: {module: {imported vitlab modules}} and [(module, imported module, private name)]."
    mods = {module_name(p): p for p in PKG.rglob('*.py') if p.name != '_modidx.py'}
    edges, private = {m: set() for m in mods}, []
    for m, p in mods.items():
        tree, is_pkg = ast.parse(p.read_text()), p.name == '__init__.py'
        for node in tree.body:  # module level only
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith('vitlab'): edges[m].add(a.name)
            elif isinstance(node, ast.ImportFrom):
                src = resolve(m, is_pkg, node)
                if not src.startswith('vitlab'): continue
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    if sub in mods: edges[m].add(sub)  # `from vitlab.deploy import ptq`
                    else:
                        edges[m].add(src)
                        if a.name.startswith('_') and src != m: private.append((m, src, a.name))
    for m in edges: edges[m] = {t for t in edges[m] if t in mods and t != m}
    return edges, private

# The data flow, first stage first: a module may import its own stage and earlier ones, never a later one.
STAGES = [('vitlab.core', 'vitlab.quiet'), ('vitlab.data', 'vitlab.models'), ('vitlab.measure', 'vitlab.train', 'vitlab.gradients', 'vitlab.fronts'),
          ('vitlab.prune',), ('vitlab.quant',), ('vitlab.deploy',), ('vitlab.pipeline', 'vitlab.budget'), ('vitlab.explore',),
          ('vitlab.coverage',)]

def stage(mod:str) -> int|None:
    "The index of `mod`'s stage in `STAGES` (a sub-package's modules share its stage); None for the package root."
    for i, names in enumerate(STAGES):
        if any(mod == n or mod.startswith(n + '.') for n in names): return i
    return None

def later_imports(edges:dict) -> list:
    "`(module, imported module)` where the import reaches a later stage of the data flow."
    return [(a, b) for a in edges for b in edges[a] if stage(a) is not None and stage(b) is not None and stage(b) > stage(a)]

def cycles(edges:dict) -> list:
    "Every strongly connected component with more than one module (Tarjan)."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in edges[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index: visit(v)
    return out

if __name__ == '__main__':
    edges, private = graph()
    if '--dot' in sys.argv:
        print('digraph vitlab {'); [print(f'  "{a}" -> "{b}";') for a in sorted(edges) for b in sorted(edges[a])]; print('}'); sys.exit()
    for a in sorted(edges):
        if a.count('.') and not a.endswith(('__init__',)): print(f"{a:32s} <- imports {', '.join(sorted(t.removeprefix('vitlab.') for t in edges[a])) or '—'}")
    cyc, later = cycles(edges), later_imports(edges)
    unstaged = [m for m in edges if m != 'vitlab' and stage(m) is None]
    print(f"\n{sum(map(len, edges.values()))} module-level edges among {len(edges)} modules; cycles: {cyc or 'none'}; "
          f"imports of a later stage: {later or 'none'}; private cross-module imports: {private or 'none'}; modules in no stage: {unstaged or 'none'}")
    sys.exit(1 if cyc or private or later or unstaged else 0)
