"""Operations on 64-bit words that work on Python ints and on Z3 bit-vectors.

The model's word-level code (summaries of a word, findBitRange64,
fillAligned, the cache's bit tricks) is written only with these functions and
Python's `&`, `|`, `^`, `+`, `-`, so the same code runs concretely in the
oracle and symbolically in proofs/: a proof evaluates the model's function on
a Z3 `BitVec(64)` and proves a property of the very code the oracle runs.

Concrete words are ints in [0, 2**64). Every function here keeps them there
and matches Go's uint64 semantics: shifts by 64 or more give 0, `lshr` is a
logical shift, `shl` drops bits past bit 63, subtraction wraps.

z3 is imported lazily, only when a symbolic value shows up, so the model runs
without z3 installed.
"""

from __future__ import annotations

from typing import Any

MASK64 = (1 << 64) - 1

Word = Any  # an int in [0, 2**64) or a z3 BitVecRef of width 64
Flag = Any  # a bool or a z3 BoolRef


def _z3() -> Any:
    import z3  # here, not at the top: the model runs on ints without Z3; only the proofs load it

    return z3


def is_concrete(x: object) -> bool:
    return isinstance(x, int)


def wrap(x: Word) -> Word:
    """Reduce a concrete result modulo 2**64 (Go's uint64 wrap-around); symbolic values already wrap."""
    return x & MASK64 if isinstance(x, int) else x


def lshr(x: Word, n: Word) -> Word:
    """Logical shift right (Go's >> on uint64)."""
    if isinstance(x, int) and isinstance(n, int):
        return x >> n if n < 64 else 0
    z3 = _z3()
    return z3.LShR(_bv(x), _bv(n))


def shl(x: Word, n: Word) -> Word:
    """Shift left, dropping bits past 63 (Go's << on uint64)."""
    if isinstance(x, int) and isinstance(n, int):
        return (x << n) & MASK64 if n < 64 else 0
    return _bv(x) << _bv(n)


def bnot(x: Word) -> Word:
    """Bitwise complement of a 64-bit word (Go's ^x)."""
    if isinstance(x, int):
        return ~x & MASK64
    return ~x


def sub(a: Word, b: Word) -> Word:
    """a - b modulo 2**64."""
    if isinstance(a, int) and isinstance(b, int):
        return (a - b) & MASK64
    return _bv(a) - _bv(b)


def add(a: Word, b: Word) -> Word:
    """a + b modulo 2**64."""
    if isinstance(a, int) and isinstance(b, int):
        return (a + b) & MASK64
    return _bv(a) + _bv(b)


def low_mask(n: Word) -> Word:
    """The word with bits [0, n) set, for 0 <= n <= 64 (Go: (1 << n) - 1, wrapping at 64)."""
    return sub(shl(1, n), 1)


def bit(x: Word, i: Word) -> Word:
    """Bit i of x as 0 or 1."""
    return lshr(x, i) & 1


def is_zero(x: Word) -> Flag:
    return x == 0


def ite(cond: Flag, a: Any, b: Any) -> Any:
    """`a if cond else b`, also for a symbolic condition. An int branch of a symbolic choice
    takes the other branch's sort, or is a 64-bit word when both are ints."""
    if isinstance(cond, bool):
        return a if cond else b
    z3 = _z3()
    return z3.If(cond, _like(a, b), _like(b, a))


def _like(value: Any, other: Any) -> Any:
    """An int as a Z3 value of `other`'s sort (a 64-bit word if `other` is an int too)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return value
    z3 = _z3()
    if isinstance(other, z3.ExprRef) and not z3.is_bv(other):
        return z3.IntVal(value) if z3.is_int(other) else value
    return z3.BitVecVal(value, other.size() if isinstance(other, z3.BitVecRef) else 64)


def maximum(a: Any, b: Any) -> Any:
    """max(a, b) for concrete numbers; an If term for symbolic ones (unsigned for bit-vectors)."""
    if isinstance(a, int) and isinstance(b, int):
        return a if a >= b else b
    z3 = _z3()
    if z3.is_bv(a) or z3.is_bv(b):
        return z3.If(z3.UGE(_bv(a), _bv(b)), a, b)
    return z3.If(a >= b, a, b)


def minimum(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return a if a <= b else b
    z3 = _z3()
    if z3.is_bv(a) or z3.is_bv(b):
        return z3.If(z3.ULE(_bv(a), _bv(b)), a, b)
    return z3.If(a <= b, a, b)


def ule(a: Any, b: Any) -> Flag:
    """Unsigned a <= b."""
    if isinstance(a, int) and isinstance(b, int):
        return a <= b
    return _z3().ULE(_bv(a), _bv(b))


def implies(a: Flag, b: Flag) -> Flag:
    if isinstance(a, bool) and isinstance(b, bool):
        return (not a) or b
    return _z3().Implies(a, b)


def both(a: Flag, b: Flag) -> Flag:
    if isinstance(a, bool) and isinstance(b, bool):
        return a and b
    return _z3().And(a, b)


def all_of(*flags: Flag) -> Flag:
    if all(isinstance(f, bool) for f in flags):
        return all(flags)
    return _z3().And(*flags)


def popcount(x: Word) -> Word:
    """Number of set bits (Go: sys.OnesCount64)."""
    if isinstance(x, int):
        return x.bit_count()
    z3 = _z3()
    total = z3.BitVecVal(0, 64)
    for i in range(64):
        total = total + z3.ZeroExt(63, z3.Extract(i, i, x))
    return total


def trailing_zeros(x: Word) -> Word:
    """Number of zero bits below the lowest set bit; 64 for 0 (Go: sys.TrailingZeros64)."""
    if isinstance(x, int):
        return 64 if x == 0 else (x & -x).bit_length() - 1
    z3 = _z3()
    result: Any = z3.BitVecVal(64, 64)
    for i in reversed(range(64)):
        result = z3.If(z3.Extract(i, i, x) == 1, z3.BitVecVal(i, 64), result)
    return result


def leading_zeros(x: Word) -> Word:
    """Number of zero bits above the highest set bit; 64 for 0 (Go: sys.LeadingZeros64)."""
    if isinstance(x, int):
        return 64 - x.bit_length()
    z3 = _z3()
    result: Any = z3.BitVecVal(64, 64)
    for i in range(64):
        result = z3.If(z3.Extract(i, i, x) == 1, z3.BitVecVal(63 - i, 64), result)
    return result


def _bv(x: Any) -> Any:
    if isinstance(x, int):
        return _z3().BitVecVal(x, 64)
    return x
