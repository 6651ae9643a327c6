"Measurement across modules: records are complete, and ratios move the way the models differ."
import math, torch
from vitlab.models import reference_model, create_model, REFERENCE_NAME
from vitlab.data import fashion_mnist_subset
from vitlab.measure import measure, measure_models, records_table, plot_records

KEYS = {'name', 'acc', 'params', 'flops', 'size_mb', 'latency_ms', 'peak_mb', 'threads', 'speedup', 'baseline'}

def test_record_fields_for_reference():
    r = measure(reference_model(), fashion_mnist_subset(), name='ref', runs=20)
    assert KEYS <= set(r)
    assert r['params'] == 5_353_738
    # FLOPs of the reference model: 12 blocks × (qkv, proj, fc1, fc2 = 12·d² MACs per token) × 17 tokens dominate
    d, T = 192, 17
    linear = 2*12*12*d*d*T
    assert linear < r['flops'] < 1.2*linear
    assert 0.85 < r['acc'] <= 1
    assert math.isclose(r['size_mb'], 4*r['params']/1e6, rel_tol=0.01)  # fp32 in memory, safetensors on disk
    assert r['peak_mb'] > r['size_mb'] and r['threads'] >= 1

def test_fp16_halves_size_and_keeps_accuracy():
    ref = reference_model(); sub = fashion_mnist_subset()
    half = reference_model().half()
    class AsHalf(torch.nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, x): return self.m(x.half()).float()
    recs = measure_models({'fp32': ref, 'fp16': AsHalf(half)}, sub, runs=20)
    assert abs(recs[1]['size_mb'] - recs[0]['size_mb']/2) < 0.05
    assert abs(recs[1]['acc'] - recs[0]['acc']) < 0.01
    assert '| fp16 |' in records_table(recs)
    assert len(plot_records(recs).axes) == 4

def test_tables_display_as_tables_and_accuracy_axes_show_differences():
    from vitlab.measure import MarkdownTable
    recs = [dict(name='a', acc=0.8903, latency_ms=4.0, size_mb=21.0, baseline=True), dict(name='b', acc=0.8877, latency_ms=2.0, size_mb=5.0)]
    t = records_table(recs)
    assert isinstance(t, MarkdownTable) and t._repr_markdown_() == str(t) and '| b | 88.77 % |' in t
    ax = plot_records(recs, metrics=('latency_ms', 'acc')).axes[-1]
    lo, hi = ax.get_xlim()
    assert 87 < lo < 88.77 and hi < 90, (lo, hi)  # not 0–100, where both bars would look the same
