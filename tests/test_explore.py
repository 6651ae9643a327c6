"The explorer across modules: a real report written by the pipeline's record format drives the widgets; bad input is refused."
import json, pytest, matplotlib
matplotlib.use('Agg')
from pathlib import Path
from vitlab.core import VitlabError
from vitlab.explore import explore, load_records, select_records, pareto_front

TUTORIAL_RECORDS = Path(__file__).resolve().parents[1]/'nbs'/'tutorials'/'deployment_records.json'

def pipeline_like_report(tmp_path):
    "Records named the way vitlab.pipeline.compress names its variants, written as its report.json."
    recs = [dict(name='dense fp32', acc=0.8903, size_mb=21.4, latency_ms=4.6, baseline=True),
            dict(name='pruned 0.09375 fp32', acc=0.8898, size_mb=19.6, latency_ms=4.2),
            dict(name='pruned 0.09375 fp16', acc=0.8898, size_mb=9.8, latency_ms=7.0),
            dict(name='pruned 0.09375 int8_dynamic (x86)', acc=0.8900, size_mb=5.3, latency_ms=3.1),
            dict(name='pruned 0.09375 int8_static (x86)', acc=0.8896, size_mb=5.4, latency_ms=3.6),
            dict(name='pruned 0.09375 lite int8', acc=0.8899, size_mb=5.9, latency_ms=1.2, file='pruned_lite.ptl'),
            dict(name='pruned 0.09375 ExecuTorch fp32', acc=0.8898, size_mb=19.6, latency_ms=1.8, file='pruned_fp32.pte'),
            dict(name='pruned 0.09375 ExecuTorch int8', acc=0.8899, size_mb=5.2, latency_ms=0.8, file='pruned_int8.pte')]
    (tmp_path/'report.json').write_text(json.dumps(recs))
    return tmp_path

def test_pipeline_report_axes_and_widgets(tmp_path):
    ex = explore(pipeline_like_report(tmp_path))
    assert [r['precision'] for r in ex.records] == ['fp32', 'fp32', 'fp16', 'int8_dynamic', 'int8_static', 'int8_dynamic', 'fp32', 'int8_dynamic']
    assert [r['runtime'] for r in ex.records] == ['eager']*5 + ['lite', 'executorch', 'executorch']
    assert ex.runtime.options == ('all', 'eager', 'executorch', 'lite')
    ex.runtime.value = 'executorch'
    assert [r['name'] for r in ex.selected] == ['pruned 0.09375 ExecuTorch fp32', 'pruned 0.09375 ExecuTorch int8']
    assert ex.table.value.count('<tr>') == 3 and 'ExecuTorch int8' in ex.table.value
    ex.runtime.value, ex.ratio.value = 'all', (0.0, 0.0)
    assert [r['name'] for r in ex.selected] == ['dense fp32']
    assert [t.get_text() for t in ex.fig.axes[0].texts] == ['dense fp32']

def test_runtime_and_precision_come_from_the_records(tmp_path):
    "A record's own fields decide its axes, whatever its name says (a budget candidate is named by its settings)."
    recs = [dict(name='dense fp32', acc=0.89, size_mb=21.4, latency_ms=9.0, baseline=True, ratio=0.0, precision='fp32', runtime='eager'),
            dict(name='ratio 0.5, heads 0, int4 0%', acc=0.88, size_mb=3.0, latency_ms=0.4, ratio=0.5, precision='int8', runtime='litert', file='budget_best.tflite'),
            dict(name='ratio 0.25, heads 0, int4 33%', acc=0.885, size_mb=3.7, latency_ms=1.7, ratio=0.25, precision='int4+int8', runtime='executorch', file='c.pte')]
    (tmp_path/'report.json').write_text(json.dumps(recs))
    ex = explore(tmp_path)
    assert [(r['runtime'], r['precision']) for r in ex.records] == [('eager', 'fp32'), ('litert', 'int8'), ('executorch', 'int4+int8')]
    assert ex.runtime.options == ('all', 'eager', 'executorch', 'litert')
    ex.runtime.value = 'litert'
    assert [r['name'] for r in ex.selected] == ['ratio 0.5, heads 0, int4 0%']

def test_tutorial_records(tmp_path):
    recs = load_records(json.loads(TUTORIAL_RECORDS.read_text()))
    assert len(recs) == 31 and {r['runtime'] for r in recs} == {'eager', 'lite', 'executorch'}
    et = select_records(recs, precision='int8_dynamic', runtime='executorch')
    assert pareto_front(et)[-1] == '1/2 ET int8 dyn'
    png = explore(TUTORIAL_RECORDS).save_png(tmp_path/'x.png')
    assert png.stat().st_size > 20_000

@pytest.mark.parametrize('src,msg', [([], 'no measurement records'), ([{'acc': 1}], 'no measurement records'),
                                     ('missing/report.json', 'does not exist')])
def test_bad_reports(src, msg):
    with pytest.raises(VitlabError, match=msg): load_records(src)
