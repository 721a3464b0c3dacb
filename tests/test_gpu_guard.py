"""A GPU rule refuses to start without a visible GPU instead of running on CPU."""
import pytest

from alignrl.core.runtime import NoGPUError, require_gpu, visible_gpus


def test_no_gpu_is_refused_with_the_rule_and_the_way_out(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(NoGPUError,
                       match=r"rule 'train_claim' uses the verl backend and needs 8 GPU\(s\), but 0") as err:
        require_gpu("train_claim", "verl", needed=8, count=0)
    assert "CUDA_VISIBLE_DEVICES=''" in str(err.value) and "native" in str(err.value)
    with pytest.raises(NoGPUError, match="needs 2 GPU"):
        require_gpu("evaluate_run", "vllm", needed=2, count=1)
    assert require_gpu("evaluate_run", "vllm", needed=1, count=1) == 1


@pytest.mark.skipif(visible_gpus() > 0, reason="this machine has a GPU")
def test_this_cpu_machine_is_refused():
    with pytest.raises(NoGPUError, match="baseline_passk"):
        require_gpu("baseline_passk", "vllm")
