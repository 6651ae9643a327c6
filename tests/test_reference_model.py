"The committed reference model: it loads from safetensors and reaches the accuracy bar on the full test set."
import time, json
import torch
from vitlab.models import reference_model, REFERENCE_WEIGHTS
from vitlab.core import read_weights
from vitlab.data import fashion_mnist
from vitlab.measure import accuracy

BAR = 0.88

def test_reference_accuracy_on_full_test_set():
    t = time.time()
    model = reference_model()
    assert not model.training
    acc = accuracy(model, fashion_mnist('test'))
    print(f"reference model top-1 {acc:.4f} in {time.time()-t:.1f} s")
    assert acc >= BAR, acc

def test_reference_weights_are_fp16_safetensors_with_recipe():
    tensors, meta = read_weights(REFERENCE_WEIGHTS)
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    recipe = json.loads(meta['recipe'])
    assert recipe['test_acc'] >= BAR and recipe['epochs'] >= 1
