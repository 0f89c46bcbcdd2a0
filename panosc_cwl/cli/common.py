"""What every command module shares: one-line errors, stderr messages, frame progress."""

from __future__ import annotations

import argparse
import sys
import time

PROG = "panosc-cwl"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the argument, not a usage dump."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sub = self.prog[len(PROG):].strip()
        where = f"{sub}: " if sub else ""
        sys.stderr.write(f"{PROG}: error: {where}{' '.join(message.split())}\n")
        sys.exit(2)


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Progress:
    """Frame-count progress on stderr, at most every ``interval`` seconds, with the rate."""

    def __init__(self, label: str, interval: float = 2.0):
        self.label, self.interval = label, interval
        self.start = self.last = self.after_first = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == 1:  # the first frame pays for opening the files and building pyFAI's look-up tables
            self.after_first = now
        if done == total or now - self.last >= self.interval:
            self.last = now
            if done == 1 and total > 1:
                _err(f"{self.label}: 1/{total} frames (first frame {now - self.start:.1f} s: opening, look-up tables)")
                return
            if done > 1 and now > self.after_first:
                rate = (done - 1) / (now - self.after_first)
            else:
                rate = done / max(now - self.start, 1e-9)
            _err(f"{self.label}: {done}/{total} frames ({rate:.3g} frames/s)")



def _print_issues(report) -> None:
    for issue in report.notes + report.warnings + report.errors:
        _err(issue.one_line())
