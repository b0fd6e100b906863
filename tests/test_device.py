"""vonedemo.device: one parser for device=/--device."""

import pytest
import torch

from vonedemo.device import DeviceError, resolve_device


def test_auto_and_none_pick_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spelling", ["gpu", "cuda:x", "cuda:-1", "cpu:0", "", "mps; rm -rf /"])
def test_unknown_spellings_name_the_choices(spelling):
    with pytest.raises(DeviceError, match="auto, cpu, cuda, cuda:N"):
        resolve_device(spelling)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("spelling", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_says_so(spelling):
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device(spelling)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_beyond_the_machine_is_refused():
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
