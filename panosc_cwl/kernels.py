"""The Jupyter kernel a notebook step runs in, started and stopped without fixed waits.

papermill starts the kernel through nbclient with jupyter_client's ``AsyncKernelManager``; two of
jupyter_client's waits are fixed delays rather than answers from the kernel, paid on every notebook
step of every run (measured on the README job's report step, 2-core machine):

* once the kernel has answered ``kernel_info``, ``wait_for_ready`` reads IOPub until it has been
  silent for 0.2 s ("flush"): ~0.25 s of the 0.6 s between starting the kernel and running the first
  cell. :class:`PromptKernelClient` reads IOPub until the kernel reports itself idle after that very
  request (its status messages for ``kernel_info`` are then all read; what it sends later belongs
  to cells, and nbclient files each output under the request it answers), so the kernel is ready as
  soon as it says so; a kernel that never says so gets jupyter_client's rule;
* shutdown asks the kernel to exit (it still runs its exit handlers: files the notebook left open
  are flushed) and polls for the process every 0.1 s: :class:`PromptKernelManager` polls every 10 ms.

Everything else is jupyter_client's own: the same kernel, messages, time-outs and escalation
(SIGTERM, then SIGKILL) for a kernel that does not exit.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.utils import ensure_async
from traitlets import DottedObjectName, Type

#: how long the kernel may stay silent on IOPub before its kernel_info is asked for again
IOPUB_QUIET_S = 0.2
#: how often shutdown checks whether the kernel process has exited
SHUTDOWN_POLL_S = 0.01


class PromptKernelClient(AsyncKernelClient):
    """An ``AsyncKernelClient`` whose ``wait_for_ready`` returns when the kernel says it is idle."""

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        """Ask ``kernel_info`` until the shell channel answers and IOPub carries the kernel's idle
        status for that request (IOPub connected, its start-up messages read); RuntimeError when
        the kernel dies or ``timeout`` passes, as jupyter_client."""
        deadline = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                if await self._idle_after(reply["parent_header"].get("msg_id")):
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _idle_after(self, msg_id: str | None) -> bool:
        """True once IOPub is connected and read: at the idle status answering ``msg_id``, or (a
        kernel that sends no such status) after any message and then 0.2 s of silence, which is
        jupyter_client's own rule. False if IOPub stays silent: not subscribed yet, ask again."""
        seen = False
        try:
            while True:
                msg = await ensure_async(self.iopub_channel.get_msg(timeout=IOPUB_QUIET_S))
                seen = True
                if (msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"
                        and msg["parent_header"].get("msg_id") == msg_id):
                    return True
        except Empty:
            return seen

    wait_for_ready = _async_wait_for_ready


class PromptKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` with :class:`PromptKernelClient` clients, polling a stopping kernel every 10 ms."""

    client_class = DottedObjectName(f"{__name__}.PromptKernelClient")
    client_factory = Type(klass=f"{__name__}.PromptKernelClient")

    async def _async_finish_shutdown(self, waittime: float | None = None, pollinterval: float = 0.1,
                                     restart: bool = False) -> None:
        await super()._async_finish_shutdown(waittime, min(pollinterval, SHUTDOWN_POLL_S), restart)

    finish_shutdown = _async_finish_shutdown
