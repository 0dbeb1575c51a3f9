"""Where a sweep's trials run: in this process, in local worker processes, or on a Dask cluster.

Each executor has the same small interface, so the sweep's loop does not care where a trial runs::

    slots                      how many trials may run at once
    attempts                   how many times a trial that raised is tried before it is recorded failed
    submit(fn, *args) -> h     start fn(*args) somewhere
    wait_any(handles)          -> [(h, result, error)] for the handles that have finished
    finish(h, folder, result)  -> the outcome, after bringing the run folder home where needed
    close()

``LocalProcesses`` gives each worker process cores / N BLAS threads (set in the environment before
the worker imports NumPy), so that N workers do not oversubscribe the CPU. ``DaskCluster`` sends
trials to an existing ``dask distributed`` scheduler; workers that see the sweep folder
(``shared``) write the run folder there directly, the others run in a temporary folder and send
it back as a tar archive. A trial whose worker raised or was lost is submitted once more and then
recorded as failed (on top of any rescheduling the Dask scheduler does by itself after a lost
worker, its ``distributed.scheduler.allowed-failures``).
"""

from __future__ import annotations

import os
from pathlib import Path

from tasks.errors import UsageError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _Done:
    """A finished call, for the executor that runs everything in place."""

    def __init__(self, fn, args):
        self.result = self.error = None
        try:
            self.result = fn(*args)
        except UsageError:
            raise  # a user mistake is the same in every trial: stop the sweep with its one line
        except Exception as e:  # noqa: BLE001 - a trial's failure is recorded, not fatal to the sweep
            self.error = e


class InProcess:
    """Trials one after another in this process (the default; the one tests use for stand-in objectives)."""

    slots, attempts = 1, 1

    def submit(self, fn, *args):
        return _Done(fn, args)

    def wait_any(self, handles):
        return [(h, h.result, h.error) for h in handles]

    def finish(self, handle, folder, result):
        return result

    def close(self):
        pass


class LocalProcesses:
    """Trials in ``workers`` fresh (spawned) processes of this machine."""

    attempts = 1

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.slots = workers
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
        os.environ.update({k: threads for k in THREAD_VARIABLES})  # inherited by the spawned workers
        try:
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            # start every worker now, while the environment holds the worker's thread count
            for started in [self.pool.submit(int, 0) for _ in range(workers)]:
                started.result()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait_any(self, handles):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [(h, None, h.exception()) if h.exception() else (h, h.result(), None) for h in done]

    def finish(self, handle, folder, result):
        return result

    def close(self):
        self.pool.shutdown()


class DaskCluster:
    """Trials on the workers of a running Dask scheduler at ``address`` (tcp://HOST:PORT)."""

    attempts = 2

    def __init__(self, address: str, out: Path, shared: bool, timeout: float = 10.0):
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'medgrad[distributed]'") from None
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as e:
            raise UsageError(f"--scheduler {address}: no Dask scheduler answers there "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
        workers = self.client.scheduler_info()["workers"]
        if not workers:
            self.client.close()
            raise UsageError(f"--scheduler {address}: the scheduler has no workers (start some: dask worker {address})")
        self.slots = sum(w.get("nthreads", 1) for w in workers.values())
        self.shared, self.out = shared, Path(out).resolve()
        if shared:
            self._check_shared()

    def _check_shared(self):
        import uuid

        token = uuid.uuid4().hex
        probe = self.out / f".probe-{token}"
        probe.write_text(token)
        try:
            seen = self.client.run(_sees, str(probe), token)
        finally:
            probe.unlink()
        blind = sorted(w for w, ok in seen.items() if not ok)
        if blind:
            self.client.close()
            raise UsageError(f"--shared: worker {blind[0]} cannot see the sweep folder {self.out} "
                             f"({len(blind)} of {len(seen)} workers); drop --shared to have run folders sent back")

    def submit(self, fn, *args):
        # args = (spec, quick, params, budget, folder, best); without a shared folder the worker runs the
        # trial in a temporary folder and sends it back packed
        if self.shared:
            return self.client.submit(fn, *args, pure=False)
        from tasks.sweep_trial import run_packed

        return self.client.submit(run_packed, fn, *args, pure=False)

    def wait_any(self, handles):
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")
        out = []
        for h in done:
            try:
                out.append((h, h.result(), None))
            except Exception as e:  # noqa: BLE001 - a worker's error or a lost worker: retried, then recorded
                out.append((h, None, e))
        return out

    def finish(self, handle, folder, result):
        if self.shared:
            return result
        from tasks.sweep_trial import unpack

        outcome, archive = result
        unpack(archive, folder)
        return outcome

    def close(self):
        self.client.close()


def _sees(path: str, token: str) -> bool:
    """On a worker: whether it reads ``token`` at ``path`` (the sweep folder is shared)."""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False
