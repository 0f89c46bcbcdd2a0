"""Where a thing stands in a YAML file, for messages that say ``file:line``: positions that
ruamel.yaml's round-trip loader records on what it loads (rules files, jobs, CWL files)."""

from __future__ import annotations

from typing import Any, TypeVar

D = TypeVar("D")


def yaml_position(node: Any, key: Any = None, *, value: bool = False,
                  default: D = (1, 1)) -> tuple[int, int] | D:
    """1-based (line, column) in a ruamel.yaml round-trip document.

    Of ``node`` itself (``key`` None); of the item ``key`` of a sequence; of a mapping's ``key``, or
    with ``value`` of the value it maps to. ``default`` where ruamel recorded none (a plain dict, data
    read from JSON, a key that is not there).
    """
    try:
        if key is None:
            line, col = node.lc.line, node.lc.col
        elif isinstance(node, list):
            line, col = node.lc.item(key)
        elif value and key in node:
            line, col = node.lc.value(key)
        else:
            line, col = node.lc.key(key)
        return line + 1, col + 1
    except Exception:  # noqa: BLE001 - no position recorded: the caller's default
        return default
