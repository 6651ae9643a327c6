"""Execute a notebook's quick cells in place so its page shows their tables and plots: every code cell runs except
those flagged `#| slow` / `#| notest` (they keep the outputs they have) and the `nbdev_export()` cell; then the
notebook is cleaned with nbdev_clean. Usage: `python scripts/run_nb.py nbs/03_measure.ipynb [more.ipynb …]`.

`--cells 2,3,16,30` runs exactly those cells (0-based indices, slow ones included) and keeps every other cell's
outputs: how one section of a long tutorial is re-run without repeating its hour-long benchmarks."""
import argparse, os, sys, subprocess
from pathlib import Path
from execnb.shell import CaptureShell
from execnb.nbio import read_nb, write_nb
from fastcore.xtras import working_directory

SKIP = {'slow', 'notest'}

def run(fn:Path, cells=None):
    nb = read_nb(fn)
    index = {id(c): i for i, c in enumerate(nb.cells)}
    ran = set()
    def flags(cell): return {l[2:].strip().split(' ')[0].rstrip(':') for l in cell.source.splitlines() if l.startswith('#|')}
    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export'+'(' in cell.source: return True
        if cells is not None:
            if index[id(cell)] not in cells: return True
        elif SKIP & flags(cell): return True
        cell.outputs = []  # execnb keeps a cell's old outputs when a run produces none
        ran.add(id(cell)); return False
    os.environ['TQDM_DISABLE'] = '1'  # no progress frames in stored outputs
    try:
        with working_directory(fn.parent): CaptureShell(fn).run_all(nb, exc_stop=True, preproc=skip)
    except BaseException:  # keep what ran (an hour of timings, say) beside the notebook, which stays as it was
        write_nb(nb, fn.with_suffix('.failed.ipynb')); print(f"{fn}: a cell failed; the outputs so far are in {fn.with_suffix('.failed.ipynb')}")
        raise
    for c in nb.cells:  # what a reader should see: results, not warnings, library logs or progress bars on stderr
        if id(c) in ran: c.outputs = [o for o in c.outputs if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
    write_nb(nb, fn)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean'), '--fname', str(fn)], check=True)
    print(f"{fn}: executed " + (f"cells {sorted(cells)}" if cells is not None else "(slow cells kept their outputs)"))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='+')
    ap.add_argument('--cells', help='comma-separated 0-based indices of the cells to run (default: every quick cell)')
    a = ap.parse_args()
    cells = None if a.cells is None else {int(c) for c in a.cells.split(',')}
    for f in a.notebooks: run(Path(f).resolve(), cells)
