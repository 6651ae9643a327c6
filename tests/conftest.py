"Fixtures the deploy tests share: the committed 1,000 real test images, a 2-block reference-shaped model, a batch-1 image."
import pytest
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model, REFERENCE_NAME

@pytest.fixture(scope='module')
def sub(): return fashion_mnist_subset()

@pytest.fixture(scope='module')
def tiny(): return create_model(REFERENCE_NAME, depth=2).eval()

@pytest.fixture(scope='module')
def example(sub): return sub[0][0][None]
