"""What every command module shares: one-line errors, stderr messages, frame progress."""

from __future__ import annotations

import argparse
import sys
import time

PROG = "panosc-cwl"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the argument, not a usage dump; help pages keep
    the line breaks of their examples."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        sub = self.prog[len(PROG):].strip()
        where = f"{sub}: " if sub else ""
        sys.stderr.write(f"{PROG}: error: {where}{' '.join(message.split())}\n")
        sys.exit(2)


def command(sub, name: str, help: str, example: str | list[str], **kwargs) -> argparse.ArgumentParser:
    """A sub-command whose --help page ends with a runnable example (one or more command lines)."""
    lines = [example] if isinstance(example, str) else example
    epilog = "example:\n" + "\n".join(f"  {ln}" for ln in lines)
    return sub.add_parser(name, help=help, description=kwargs.pop("description", help), epilog=epilog, **kwargs)


def group(sub, name: str, help: str, example: str | list[str]):
    """A command group (``panosc-cwl powder ...``): its sub-commands' parser action."""
    p = command(sub, name, help, example)
    return p.add_subparsers(dest="action", required=True, parser_class=OneLineParser)


def deprecated_alias(sub, name: str, old: str, new: str, build, func):
    """A hidden sub-command ``name`` (full spelling ``old``) that still works for existing scripts: same
    options (``build`` adds them), one deprecation line on stderr, then ``func``. --help does not list it."""
    p = sub.add_parser(name)
    build(p)

    def run(args, _func=func):
        _err(f"{PROG}: warning: '{old}' is deprecated, use '{PROG} {new}'")
        return _func(args)

    p.set_defaults(func=run)
    return p


def hide_deprecated(parser: argparse.ArgumentParser) -> None:
    """List only the documented sub-commands (those added with a help line) in usage and --help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            visible = [a.dest for a in action._choices_actions]
            if visible:
                action.metavar = "{" + ",".join(visible) + "}"
            for child in {id(p): p for p in action.choices.values()}.values():
                hide_deprecated(child)


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
