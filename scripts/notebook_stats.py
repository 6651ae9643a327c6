"""How the module notebooks read as documents: exported cells, definitions per exported cell, exported cells holding
several definitions or followed by no check, and whether a notebook's page has stored outputs.
Usage: `python scripts/notebook_stats.py [nbs/21_quant_fake.ipynb …]` (default: every `nbs/[0-9]*.ipynb`).

A *definition* is a top-level `def` / `async def` / `class`, or an assignment to an UPPERCASE name. A *check* is a
code cell, between an exported cell and the next exported cell, containing `assert` or a call of a `test_…` function;
only exported cells that define something need one (an exported cell of imports does not)."""
import argparse, ast, json, re, sys
from pathlib import Path

EXPORT = re.compile(r'^#\|\s*(export|exports)\s*$', re.M)

def cell_src(c): return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def is_export(c): return c['cell_type'] == 'code' and bool(EXPORT.search(cell_src(c)))

def _parse(s):
    "Parse a cell's source, dropping IPython magics and shell escapes"
    s = '\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in s.splitlines())
    try: return ast.parse(s)
    except SyntaxError: return None

def definitions(s):
    "Names defined at the top level of a cell's source"
    tree = _parse(s)
    if tree is None: return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name) and n.id.isupper(): names.append(n.id)
    return names

def is_check(c):
    "Does a code cell assert something or call a `test_…` helper?"
    if c['cell_type'] != 'code': return False
    tree = _parse(cell_src(c))
    if tree is None: return 'assert' in cell_src(c)
    for n in ast.walk(tree):
        if isinstance(n, ast.Assert): return True
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ''
            if name.startswith('test_'): return True
    return False

def stats(fn):
    cells = json.loads(Path(fn).read_text())['cells']
    exp = [i for i, c in enumerate(cells) if is_export(c)]
    ndefs = [len(definitions(cell_src(cells[i]))) for i in exp]
    unchecked = 0
    for k, i in enumerate(exp):
        end = exp[k+1] if k+1 < len(exp) else len(cells)
        if ndefs[k] and not any(is_check(c) for c in cells[i+1:end]): unchecked += 1
    outputs = any(c['cell_type'] == 'code' and c.get('outputs') for c in cells)
    return dict(notebook=Path(fn).name, cells=len(exp), defs=sum(ndefs), multi=sum(n > 1 for n in ndefs),
                unchecked=unchecked, outputs=outputs)

def main(fns):
    rows = [stats(f) for f in fns]
    print(f"{'notebook':36} {'exp cells':>9} {'defs':>5} {'defs/cell':>9} {'>1 def':>6} {'no check':>8} {'outputs':>7}")
    for r in rows:
        print(f"{r['notebook']:36} {r['cells']:9d} {r['defs']:5d} {r['defs']/max(r['cells'],1):9.2f} {r['multi']:6d} "
              f"{r['unchecked']:8d} {'yes' if r['outputs'] else 'no':>7}")
    n, d = sum(r['cells'] for r in rows), sum(r['defs'] for r in rows)
    print(f"\n{len(rows)} module notebooks, {n} exported cells, {d} definitions ({d/max(n,1):.2f} per exported cell), "
          f"{sum(r['multi'] for r in rows)} exported cells hold >1 definition, "
          f"{sum(r['unchecked'] for r in rows)} are followed by no check, "
          f"{sum(r['outputs'] for r in rows)} of {len(rows)} pages have stored outputs")
    return rows

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*')
    a = ap.parse_args()
    root = Path(__file__).resolve().parent.parent
    main([Path(f) for f in a.notebooks] or sorted((root/'nbs').glob('[0-9]*.ipynb')))
