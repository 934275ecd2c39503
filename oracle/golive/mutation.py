"""A seeded bug in the runtime's page allocator: one textual replacement in one runtime file.

A Mutation names a runtime file, a short pattern that must occur in the
pristine file exactly once, and its replacement. It is applied to a
temporary copy of that one file, which `go test -overlay` puts in place of
the original when the live driver is built (oracle.golive.driver); GOROOT
is never modified and Go's source is never copied into the project. A
pattern that does not occur exactly once (a newer Go changed the code) is a
MutationError, never a silent no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from oracle.common.errors import UsageError

# The files a mutation may patch: the page allocator's (the 32-bit layout's own file too).
RUNTIME_FILES = ("mpagealloc.go", "mpallocbits.go", "mpagecache.go", "mgcscavenge.go", "mpagealloc_32bit.go")


class MutationError(UsageError):
    """A mutation does not apply: an unknown file, or a pattern that does not occur exactly once."""


@dataclass(frozen=True)
class Mutation:
    """A seeded bug: in runtime file `file`, replace the one occurrence of `pattern`.

    `arch` is the platform whose build the bug is hunted on (a bug in the
    32-bit layout lives on "386"; model.geometry.ARCHES).
    """

    name: str
    file: str
    pattern: str
    replacement: str
    bug: str = ""
    arch: str = "amd64"

    def key(self) -> str:
        platform = [] if self.arch == "amd64" else [self.arch]  # amd64 mutants keep the keys they always had
        return json.dumps([self.file, self.pattern, self.replacement, *platform])

    def apply(self, text: str) -> str:
        if self.file not in RUNTIME_FILES:
            raise MutationError(f"mutant {self.name}: {self.file} is not one of {', '.join(RUNTIME_FILES)}")
        count = text.count(self.pattern)
        if count != 1:
            raise MutationError(
                f"mutant {self.name}: pattern {self.pattern!r} occurs {count} times in {self.file}, not exactly once"
            )
        return text.replace(self.pattern, self.replacement)
