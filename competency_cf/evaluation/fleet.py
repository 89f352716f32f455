"""Run one function over many work items (recordings): in this process, in local processes, or
as tasks on a Ray cluster. Used by `competency-cf report` and `competency-cf replay` over a fleet.

The results come back in the order of the items. An exception raised by the function, or a
worker that dies, becomes that item's error row (`error_row(item, message)`), so one bad
recording never loses the others' results. The function, its items and its results must be
picklable (a module-level function, plain data).

On Ray every node needs this package installed and must see the inputs and outputs at the same
paths (a shared file system): the function runs on the node and writes there.
"""

from __future__ import annotations

import logging
import socket
from typing import Callable, Sequence

INSTALL_RAY = "pip install competency_cf[fleet] (or pip install ray)"
CONNECT_TIMEOUT_S = 10.0


def error_dict(item, message: str) -> dict:
    """The default error row."""
    return {"error": message}


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def run_guarded(work: Callable, error_row: Callable, item):
    """`work(item)`, or the item's error row; runs wherever the item runs."""
    try:
        return work(item)
    except Exception as error:  # any failure is the item's, never the fleet's
        return error_row(item, describe(error))


def run_fleet(work: Callable, items: Sequence, jobs: int = 1, ray_address: str | None = None,
              progress: bool = False, error_row: Callable = error_dict) -> list:
    """`work(item)` for every item, the results in item order: as Ray tasks (one CPU each) on
    the cluster at `ray_address` when given, else in this process when `jobs` <= 1 or there is
    one item, else in `jobs` local processes. `progress`: a bar over the finished items."""
    items = list(items)
    if ray_address:
        return _on_ray(work, items, ray_address, progress, error_row)
    if jobs <= 1 or len(items) <= 1:
        return _serially(work, items, progress, error_row)
    return _in_processes(work, items, jobs, progress, error_row)


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="bag", disable=not progress)


def _serially(work, items, progress, error_row) -> list:
    results = []
    with _bar(len(items), progress) as bar:
        for item in items:
            results.append(run_guarded(work, error_row, item))
            bar.update()
    return results


def _in_processes(work, items, jobs, progress, error_row) -> list:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: list = [None] * len(items)
    # spawn: a fork of a process whose DDS or plotting threads run can hang
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=context) as pool, \
            _bar(len(items), progress) as bar:
        futures = {pool.submit(run_guarded, work, error_row, item): index
                   for index, item in enumerate(items)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as error:  # a worker that died, a result that did not pickle
                results[index] = error_row(items[index], describe(error))
            bar.update()
    return results


def import_ray():
    try:
        import ray
    except ImportError as error:
        raise RuntimeError(f"running on a Ray cluster needs Ray: {INSTALL_RAY}") from error
    return ray


def host_port(address: str) -> tuple[str, int] | None:
    """The `host:port` of a Ray address (`ray://` allowed); None for `auto` and the like."""
    host, colon, port = address.split("://", 1)[-1].rpartition(":")
    if not colon or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail at once where nothing listens: ray.init has no timeout and retries such an address
    for many minutes (20 tries of half a minute or more in Ray 2.60) before it gives up."""
    where = host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=timeout_s).close()
    except OSError as error:
        raise RuntimeError(f"no Ray cluster answers at {address} ({error}); give the address "
                           "of a running head (`ray start --head` prints it)") from error


def _connect(ray, address: str) -> None:
    check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise RuntimeError(f"cannot connect to the Ray cluster at {address}: {error}") from error


def _on_ray(work, items, address, progress, error_row) -> list:
    ray = import_ray()
    owner = not ray.is_initialized()  # a caller's connection is used as it is, and kept
    if owner:
        _connect(ray, address)
    try:
        task = ray.remote(num_cpus=1)(run_guarded)
        refs = [task.remote(work, error_row, item) for item in items]
        index = {ref: n for n, ref in enumerate(refs)}
        results: list = [None] * len(items)
        pending = list(refs)
        with _bar(len(items), progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    n = index[ref]
                    try:
                        results[n] = ray.get(ref)
                    except Exception as error:  # a lost worker or node, a task Ray failed
                        results[n] = error_row(items[n], describe(error))
                    bar.update()
        return results
    finally:
        if owner:
            ray.shutdown()
