"""Execute a notebook's quick cells in place so its page shows their tables and plots: every code cell runs except
those flagged `#| slow` / `#| notest` (they keep the outputs they have) and the `nbdev_export()` cell; then the
notebook is cleaned with nbdev_clean. Usage: `python scripts/run_nb.py nbs/03_measure.ipynb [more.ipynb …]`."""
import os, sys, subprocess
from pathlib import Path
from execnb.shell import CaptureShell
from execnb.nbio import read_nb, write_nb
from fastcore.xtras import working_directory

SKIP = {'slow', 'notest'}

def run(fn:Path):
    nb = read_nb(fn)
    def flags(cell): return {l[2:].strip().split(' ')[0].rstrip(':') for l in cell.source.splitlines() if l.startswith('#|')}
    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export'+'(' in cell.source: return True
        if SKIP & flags(cell): return True
        cell.outputs = []  # execnb keeps a cell's old outputs when a run produces none
        return False
    os.environ['TQDM_DISABLE'] = '1'  # no progress frames in stored outputs
    with working_directory(fn.parent): CaptureShell(fn).run_all(nb, exc_stop=True, preproc=skip)
    write_nb(nb, fn)
    subprocess.run([str(Path(sys.executable).parent/'nbdev_clean'), '--fname', str(fn)], check=True)
    print(f"{fn}: executed (slow cells kept their outputs)")

if __name__ == '__main__':
    for f in sys.argv[1:]: run(Path(f).resolve())
