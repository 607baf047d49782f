"""The allocator setting of CPU training and scoring (adcgan.training.memory): page faults counted, not timed."""
import subprocess
import sys

import pytest
import torch

from conftest import SKIP_NOT_LINUX

from adcgan import ADCGAN
from adcgan.training import memory
from adcgan.training.loop import training_memory

FAULTS = """
import resource, torch
from adcgan.training.memory import reuse_freed_memory

def faults(mib=64):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        y = torch.ones(mib << 18)  # mib MiB; 64 is above glibc's largest dynamic mmap threshold
        del y
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

plain = faults()
with reuse_freed_memory():
    faults()
    reused = faults()
    with reuse_freed_memory():  # nested: the inner exit must leave the outer setting on
        pass
    nested = faults()
after = faults(256)  # larger than the free heap top kept from above, which may serve a 64 MiB block
print(plain, reused, nested, after)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason=SKIP_NOT_LINUX)
def test_reuse_freed_memory_avoids_page_faults_and_nests():
    out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, check=True).stdout
    plain, reused, nested, after = map(int, out.split())
    assert plain > 5 * 16_000                      # 16,384 4-KiB pages per 64 MiB, every time
    assert reused < plain / 10 and nested < plain / 10
    assert after > 3 * 65_000                      # restored on the outermost exit: mapped afresh each time


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason=SKIP_NOT_LINUX)
@pytest.mark.parametrize("fast", [True, False])
def test_fit_loop_trains_under_the_setting_on_the_cpu_fast_path_only(fast, monkeypatch):
    depths = []
    det = ADCGAN(batch_size=8, epochs=1, warmup_epochs=1, fast_training=fast, device="cpu", seed=0)
    step = ADCGAN.train_step_async
    monkeypatch.setattr(ADCGAN, "train_step_async",
                        lambda self, x, epoch: (depths.append(memory._depth), step(self, x, epoch))[1])
    det.fit(torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8), progress=False)
    assert depths and all(d == (1 if fast else 0) for d in depths)
    assert memory._depth == 0
    with training_memory(det):
        assert memory._depth == (1 if fast else 0)
