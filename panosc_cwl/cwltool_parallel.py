"""cwltool whose ``--parallel`` also records every step in the provenance bundle.

Stock cwltool 3.3 runs independent steps at once with ``--parallel`` (its
``MultithreadedJobExecutor``), but that executor skips the per-job provenance set-up its
``SingleJobExecutor`` does, so a ``--parallel --provenance`` bundle holds the workflow run only: no
step activity, no step inputs or outputs (cwltool issues 1059, 1348). :class:`ProvenanceParallelExecutor`
is the stock multi-threaded executor plus exactly that set-up, taken from ``SingleJobExecutor.run_jobs``
(``prov_obj.evaluate``, ``record_process_start``, a runtime context per job carrying its
``process_run_id``), with the provenance document's writes serialised by one lock, since the
stock profile is written from one thread only.

Run it as cwltool (same options, same outputs, same bundle layout)::

    python -m panosc_cwl.cwltool_parallel --parallel --provenance ro/ --outdir out/ wf.cwl job.yml

Without ``--parallel`` it is plain cwltool (its single-job executor). ``panosc-cwl run`` uses it with
``--parallel`` for the cwltool back end, so the report and the plot of the README job run side by side.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
from typing import Any

from cwltool.errors import WorkflowException
from cwltool.executors import MultithreadedJobExecutor, SingleJobExecutor
from cwltool.job import JobBase
from cwltool.loghandler import _logger
from cwltool.task_queue import TaskQueue
from cwltool.workflow import Workflow

#: ProvenanceProfile methods that write the document or the research object from a job's thread
_PROV_WRITES = ("used_artefacts", "record_process_end", "generate_output_prov", "declare_file",
                "declare_directory", "declare_string", "declare_artefact")


def _serialised(prov_obj: Any, lock: threading.RLock) -> Any:
    """Make ``prov_obj``'s writing methods take ``lock`` (once per profile object)."""
    if getattr(prov_obj, "_panosc_prov_lock", None) is lock:
        return prov_obj
    for name in _PROV_WRITES:
        method = getattr(prov_obj, name, None)
        if method is None:
            continue

        def locked(*args: Any, _method=method, **kwargs: Any) -> Any:
            with lock:
                return _method(*args, **kwargs)

        functools.update_wrapper(locked, method)
        setattr(prov_obj, name, locked)
    prov_obj._panosc_prov_lock = lock
    return prov_obj


class ProvenanceParallelExecutor(MultithreadedJobExecutor):
    """cwltool's multi-threaded executor with SingleJobExecutor's per-step provenance recording."""

    def __init__(self, max_parallel: int = 0) -> None:
        super().__init__(max_parallel)
        self._prov_lock = threading.RLock()
        self._job_contexts: dict[int, Any] = {}

    def execute(self, process, job_order_object, runtime_context, logger=_logger):
        # cwltool's main() sets this only for the executor it creates itself
        runtime_context.select_resources = self.select_resources
        return super().execute(process, job_order_object, runtime_context, logger)

    def _job_context(self, process, job, job_order_object, runtime_context):
        """A runtime context for ``job`` carrying its provenance activity (as SingleJobExecutor does)."""
        if runtime_context.research_obj is None:
            return runtime_context
        prov_obj = job.prov_obj
        if not prov_obj:
            return runtime_context
        ctx = runtime_context.copy()
        ctx.prov_obj = _serialised(prov_obj, self._prov_lock)
        with self._prov_lock:
            prov_obj.fsaccess = runtime_context.make_fs_access("")
            prov_obj.evaluate(process, job, job_order_object, runtime_context.research_obj)
            ctx.process_run_id = prov_obj.record_process_start(process, job)
        return ctx

    def _runner(self, job, runtime_context, TMPDIR_LOCK):
        ctx = self._job_contexts.pop(id(job), runtime_context)
        return super()._runner(job, ctx, TMPDIR_LOCK)

    def run_jobs(self, process, job_order_object, logger, runtime_context) -> None:
        if not isinstance(process, Workflow):  # a lone tool: nothing runs beside it
            return SingleJobExecutor.run_jobs(self, process, job_order_object, logger, runtime_context)
        # MultithreadedJobExecutor.run_jobs, plus the provenance set-up of each job as it is generated
        self.taskqueue = TaskQueue(threading.Lock(), int(math.ceil(self.max_cores)))
        interrupted = False
        try:
            jobiter = process.job(job_order_object, self.output_callback, runtime_context)
            lock = runtime_context.workflow_eval_lock
            if lock is None:
                raise WorkflowException("runtimeContext.workflow_eval_lock must not be None")
            lock.acquire()
            try:  # released whatever happens (stock code keeps it on an error: job threads then hang)
                for job in jobiter:
                    if job is not None:
                        if isinstance(job, JobBase):
                            job.builder = runtime_context.builder or job.builder
                            if job.outdir is not None:
                                self.output_dirs.add(job.outdir)
                        self._job_contexts[id(job)] = self._job_context(process, job, job_order_object,
                                                                        runtime_context)
                    self.run_job(job, runtime_context)
                    if job is None:
                        if self.taskqueue.in_flight > 0:
                            self.wait_for_next_completion(runtime_context)
                        else:
                            logger.error("Workflow cannot make any more progress.")
                            break
                self.run_job(None, runtime_context)
                while self.taskqueue.in_flight > 0:
                    self.wait_for_next_completion(runtime_context)
                    self.run_job(None, runtime_context)
            finally:
                lock.release()
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self.taskqueue.drain()
            if not interrupted:  # as stock: steps still running finish before the bundle is closed
                self.taskqueue.join()  # (Ctrl-C: their processes got the signal too; no wait)


def main(argv: list[str] | None = None) -> int:
    """cwltool as its console script runs it, with :class:`ProvenanceParallelExecutor` when ``--parallel``
    is given (``cwltool.main.run``: SIGTERM and exit kill the steps' processes, as stock)."""
    from cwltool.main import arg_parser, run

    argv = sys.argv[1:] if argv is None else argv
    args = arg_parser().parse_known_args(argv)[0]
    executor = ProvenanceParallelExecutor(max_parallel=args.parallel_max or 0) if args.parallel else None
    return run(argsl=argv, executor=executor)


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C (panosc-cwl forwards it to the group): no wait for the job threads
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown (0.5 s of module finalisers after the bundle is written)
