"""README.md from nbs/index.ipynb without Quarto (what `nbdev_readme` does with it): hidden cells dropped, cell
directives stripped, outputs kept. `--check` fails if README.md is out of date."""
import sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file -->\n\n"

def render() -> str:
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        if c.cell_type == 'code':
            if any(l.replace(' ', '') in ('#|hide', '#|exporti', '#|export') for l in lines): continue
            c.source = '\n'.join(l for l in lines if not l.startswith('#|'))
        cells.append(c)
    nb.cells = cells
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return HEADER + body.strip() + '\n'

if __name__ == '__main__':
    text = render()
    if '--check' in sys.argv:
        if (ROOT/'README.md').read_text() != text: sys.exit("README.md is out of date: run `python scripts/make_readme.py`")
        print("README.md is in sync with nbs/index.ipynb")
    else: (ROOT/'README.md').write_text(text); print("wrote README.md")
