"The package's layout: imports follow the data flow (no cycle, no later stage), no private name crosses modules, `import vitlab.quant` does not load the export stack."
import subprocess, sys, importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('import_graph', ROOT/'scripts'/'import_graph.py')
ig = importlib.util.module_from_spec(spec); spec.loader.exec_module(ig)

def test_import_graph_follows_the_data_flow():
    edges, private = ig.graph()
    assert len(edges) > 20 and 'vitlab.quant.fake' in edges['vitlab.quant.search']  # the graph was read
    assert ig.cycles(edges) == []
    assert ig.later_imports(edges) == []
    assert private == []
    assert [m for m in edges if m != 'vitlab' and ig.stage(m) is None] == []

def test_the_checks_can_fail():
    assert ig.cycles({'a': {'b'}, 'b': {'a'}, 'c': set()}) == [['a', 'b']]
    assert ig.later_imports({'vitlab.quant.search': {'vitlab.deploy.ptq', 'vitlab.measure'}}) == [('vitlab.quant.search', 'vitlab.deploy.ptq')]

def test_quantization_alone_does_not_load_the_export_stack():
    out = subprocess.run([sys.executable, '-c', "import sys, vitlab.quant, vitlab.prune; print(sorted(m for m in sys.modules if m.startswith('vitlab.deploy') or m in ('executorch', 'onnxruntime', 'openvino')))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == '[]', out.stdout
