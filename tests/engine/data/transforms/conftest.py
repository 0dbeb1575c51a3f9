"""Fixtures for the transform tests."""

import numpy as np
import pytest

from engine import backend


@pytest.fixture
def same_on_strict():
    """check(transform, sample, seed): the transform gives on the strict device what it gives on
    the CPU, and its outputs stay on the strict device."""

    def check(transform, sample, seed=0, atol=1e-5):
        cpu = transform(sample, rng=seed)
        strict_in = {k: backend.to_device(v, "strict") for k, v in sample.items()}
        strict = transform(strict_in, rng=seed)
        assert set(cpu) == set(strict)
        for key in cpu:
            assert backend.device_of(strict[key]) == "strict", f"{key} left the device"
            np.testing.assert_allclose(backend.asnumpy(strict[key]), cpu[key], atol=atol, err_msg=key)
        return cpu

    return check
