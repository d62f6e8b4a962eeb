"""Run independent EC2 calls at once; report every failure, not just the first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar, cast

from hasg.backends.aws.session import BOTO_ERRORS, translate
from hasg.errors import AwsError, ConcurrentChangeError, HasgError, OwnershipError

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


def run_parallel(tasks: Sequence[Callable[[], T]], max_workers: int) -> list[T]:
    """Each task's result, in order. Every task runs even when another fails:
    they are independent, and whatever landed is progress the next run keeps."""
    if not tasks:
        return []
    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(tasks))))
    futures: list[Future[T]] = []
    try:
        futures = [pool.submit(task) for task in tasks]
        wait(futures)
    except BaseException:
        # Ctrl-C: let the calls in flight finish, start no new one.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    failures = [error for f in futures if (error := f.exception()) is not None]
    if failures:
        raise _combined(failures)
    return [f.result() for f in futures]


def run_both(first: Callable[[], A], second: Callable[[], B], max_workers: int) -> tuple[A, B]:
    """Two independent calls of different kinds at once: both answers."""
    answers: list[object] = run_parallel([first, second], max_workers)
    return cast(A, answers[0]), cast(B, answers[1])


def _combined(failures: list[BaseException]) -> BaseException:
    first = failures[0]
    if isinstance(first, BOTO_ERRORS):
        first = translate(first)
    if len(failures) == 1 or not isinstance(first, HasgError):
        return first
    others = f" (and {len(failures) - 1} more failed call(s))"
    # Another writer or a group not hasg's is what the caller must hear of, as such.
    error: HasgError
    if isinstance(first, ConcurrentChangeError | OwnershipError):
        error = type(first)(f"{first}{others}")
    else:
        error = AwsError(f"{first}{others}", code=first.code if isinstance(first, AwsError) else "")
    error.__cause__ = failures[0]
    return error
