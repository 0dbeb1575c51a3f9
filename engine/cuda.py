"""``engine.cuda.is_available()``, as ``torch.cuda.is_available()``."""

from engine.backend import cuda_is_available


def is_available() -> bool:
    """True when CuPy is installed and a CUDA device is visible."""
    return cuda_is_available()


def device_count() -> int:
    if not cuda_is_available():
        return 0
    import cupy  # pragma: no cover - needs a GPU

    return cupy.cuda.runtime.getDeviceCount()  # pragma: no cover
