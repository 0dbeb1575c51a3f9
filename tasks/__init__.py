"""medgrad's experiments: one module per task family, composed from engine/ and models/ (see tasks/README.md)."""

# Before any experiment module loads NumPy: the engine's OpenBLAS setting only takes effect if it is
# made first (engine/parallel.py), and ``medgrad run`` reaches NumPy through the task modules.
import engine.parallel  # noqa: F401
