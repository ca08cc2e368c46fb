"""The last stop of every command-line entry point: a message and exit code 2, no traceback.

``GapMapError`` carries a located Chinese message (``zh``); any other exception is a bug,
shown as one line that asks for ``--debug`` (which re-raises it with its traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from layers import GapMapError

__all__ = ["guarded"]


def guarded(run: Callable[[], int], argv: list[str] | None, *, inputs_zh: str) -> int:
    """Call ``run()``; turn any failure into a message on stderr and exit code 2.

    Parameters
    ----------
    run : callable
        The command's body; returns its exit code.
    argv : list of str or None
        The command's arguments (``--debug`` there lets an unexpected error through).
    inputs_zh : str
        What the user gave, in Chinese, for the internal-error message (``输入数据``).
    """
    try:
        return run()
    except GapMapError as err:
        print(err.zh, file=sys.stderr)
        return 2
    except Exception as err:  # never a traceback for the user; --debug shows it
        if "--debug" in (sys.argv[1:] if argv is None else argv):
            raise
        print(
            f"GapMap 内部错误（{type(err).__name__}: {err}）。{inputs_zh}可能有未识别的问题；"
            "请用 --debug 重新运行，并把输出反馈给开发者。",
            file=sys.stderr,
        )
        return 2
