"""Size classes and span classes: where an object of a given size and type lives.

Go allocates every small object in a span of one *span class*. The span
class is the size class (1..67, model.gc.sizeclasses, Go's generated table)
times two, plus one when the objects are *noscan*:

    span class = size class * 2 + noscan

An object is noscan when its type has no pointers, or when it has no type
at all (raw memory). A noscan span is never scanned by the collector: its
objects are marked, never queued, never scanned (model.gc.mark). This one
bit is Go's "noscan" optimisation.

How an allocation of `size` bytes is placed (Go: mallocgc and the
mallocgc* helpers it dispatches to, malloc.go; mcache.allocLarge):

  * size 0 is not an object (Go returns a shared zero-sized address); the
    model refuses it.
  * noscan and size < 16: Go's tiny allocator packs several such objects
    into one 16-byte block, so they live and die together. The model does
    not model it and refuses such objects (make them 16 bytes or more).
  * small: size <= 32768 - 8. A scan object larger than 512 bytes gets an
    8-byte *malloc header* (its type pointer) in front of it, so its slot
    must hold size + 8 bytes; smaller scan objects keep their pointer bitmap
    at the end of the span instead. The size class is the smallest whose
    object size holds the (headed) size.
  * large: anything bigger gets a span of its own with
    ceil(size / 8192) pages and span class 0*2 + noscan; the whole span is
    the object's slot.

Objects per small span (nelems): the span's bytes, minus what Go 1.27
(Green Tea collector, on by default) reserves at the span's end, divided by
the object size. Spans of objects from 16 to 512 bytes reserve 128 bytes of
inline mark bits; scan spans of objects up to 512 bytes also reserve their
pointer bitmap, one bit per word (Go: mheap.initSpan).

The first heap formats (version 1) predate the tiny allocator and keep
refusing size 0 and noscan objects under 16 bytes (check_object_size with
tiny=False); later versions accept them.

Invariants: the slot holds the object (header + size <= slot bytes);
span class // 2 is the size class and span class % 2 the noscan bit.
"""

from __future__ import annotations

import attrs

from model.errors import InvalidOperation
from model.gc import sizeclasses as table

WORD_BYTES = 8
PAGE_BYTES = 1 << table.PAGE_SHIFT
MALLOC_HEADER_BYTES = 8  # Go: gc.MallocHeaderSize
MIN_SIZE_FOR_MALLOC_HEADER = 512  # Go: gc.MinSizeForMallocHeader (exclusive: a 512-byte object has no header)
INLINE_MARK_BITS_BYTES = 128  # Go: unsafe.Sizeof(spanInlineMarkBits{}) under Green Tea
MAX_OBLET_BYTES = 128 << 10  # Go: maxObletBytes (mgcmark.go)
MAX_OBJECT_BYTES = 1 << 30  # the model's own limit on one object
TINY_SIZE = table.TINY_SIZE
NUM_SIZE_CLASSES = table.NUM_SIZE_CLASSES
NUM_SPAN_CLASSES = 2 * NUM_SIZE_CLASSES


@attrs.frozen
class SpanClass:
    """Go's spanClass: size class * 2 + noscan. Size class 0 is a large object's span."""

    value: int = attrs.field()

    @value.validator
    def _check(self, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < NUM_SPAN_CLASSES:
            raise InvalidOperation(f"span class must be an integer in [0, {NUM_SPAN_CLASSES}), got {value!r}")

    @staticmethod
    def make(size_class: int, noscan: bool) -> SpanClass:
        return SpanClass(size_class * 2 + int(noscan))

    @property
    def size_class(self) -> int:
        return self.value >> 1

    @property
    def noscan(self) -> bool:
        return bool(self.value & 1)

    def __str__(self) -> str:
        return f"{self.size_class}{'-noscan' if self.noscan else ''}"


KIND_ZERO, KIND_TINY, KIND_SMALL, KIND_LARGE = "zero", "tiny", "small", "large"


@attrs.frozen
class Placement:
    """Where an object goes: its span class, slot bytes (Go: elemsize), span pages and header bytes.

    `kind` is the allocation path: zero (no span), tiny (a share of a 16-byte block), small or large.
    """

    span_class: SpanClass
    slot_bytes: int
    span_pages: int
    header_bytes: int
    kind: str = KIND_SMALL

    @property
    def large(self) -> bool:
        return self.kind == KIND_LARGE

    @property
    def tiny(self) -> bool:
        return self.kind == KIND_TINY

    @property
    def zero(self) -> bool:
        return self.kind == KIND_ZERO

    @property
    def noscan(self) -> bool:
        return self.span_class.noscan


def has_malloc_header(size: int, noscan: bool) -> bool:
    """A small scan object of more than 512 bytes carries an 8-byte type header (Go: !heapBitsInSpan)."""
    return not noscan and MIN_SIZE_FOR_MALLOC_HEADER < size <= table.MAX_SMALL_SIZE - MALLOC_HEADER_BYTES


def is_large(size: int) -> bool:
    return size > table.MAX_SMALL_SIZE - MALLOC_HEADER_BYTES


def size_class_of(nbytes: int) -> int:
    """The smallest size class whose objects hold `nbytes` (1 <= nbytes <= 32768)."""
    if not 1 <= nbytes <= table.MAX_SMALL_SIZE:
        raise InvalidOperation(f"no size class holds {nbytes} bytes")
    for size_class in range(1, NUM_SIZE_CLASSES):
        if table.CLASS_BYTES[size_class] >= nbytes:
            return size_class
    raise AssertionError("the last size class is MAX_SMALL_SIZE")


def check_object_size(size: object, noscan: bool, tiny: bool = False) -> int:
    """The size if an object of that size and kind can exist; `tiny` False refuses what version 1 formats did."""
    if not isinstance(size, int) or isinstance(size, bool):
        raise InvalidOperation(f"object size must be an integer, got {size!r}")
    if size < (0 if tiny and noscan else 1):
        raise InvalidOperation(f"object size must be at least {0 if tiny and noscan else 1} byte, got {size}")
    if size > MAX_OBJECT_BYTES:
        raise InvalidOperation(f"object size {size} is above the model's limit of {MAX_OBJECT_BYTES} bytes")
    if noscan and size < TINY_SIZE and not tiny:
        raise InvalidOperation(
            f"a noscan object of {size} bytes would go to Go's tiny allocator, which the model does not "
            f"model; noscan objects must be at least {TINY_SIZE} bytes"
        )
    if not noscan and size % WORD_BYTES:
        raise InvalidOperation(f"an object with pointers has a size that is a multiple of 8, got {size}")
    return size


def placement(size: int, noscan: bool, tiny: bool = False) -> Placement:
    """Where mallocgc puts an object of `size` bytes whose type has pointers unless `noscan`.

    With `tiny` False, size 0 and noscan objects under 16 bytes are refused (version 1 formats).
    """
    check_object_size(size, noscan, tiny)
    if size == 0:
        return Placement(SpanClass(0), 0, 0, 0, KIND_ZERO)
    if noscan and size < TINY_SIZE:
        return Placement(TINY_SPAN_CLASS, TINY_SIZE, table.CLASS_PAGES[TINY_SIZE_CLASS], 0, KIND_TINY)
    if is_large(size):
        pages = -(-size // PAGE_BYTES)
        return Placement(SpanClass.make(0, noscan), pages * PAGE_BYTES, pages, 0, KIND_LARGE)
    header = MALLOC_HEADER_BYTES if has_malloc_header(size, noscan) else 0
    size_class = size_class_of(size + header)
    return Placement(
        SpanClass.make(size_class, noscan), table.CLASS_BYTES[size_class], table.CLASS_PAGES[size_class], header
    )


def objects_per_span(span_class: SpanClass) -> int:
    """Go's nelems: slots in one span of this class, after the span-end reservations of Go 1.27."""
    size_class = span_class.size_class
    if size_class == 0:
        return 1
    elem = table.CLASS_BYTES[size_class]
    nbytes = table.CLASS_PAGES[size_class] * PAGE_BYTES
    reserve = 0
    if 16 <= elem <= MIN_SIZE_FOR_MALLOC_HEADER:
        reserve += INLINE_MARK_BITS_BYTES
    if elem <= MIN_SIZE_FOR_MALLOC_HEADER and not span_class.noscan:
        reserve += nbytes // WORD_BYTES // 8
    return (nbytes - reserve) // elem


def uses_inline_mark_bits(slot_bytes: int) -> bool:
    """Green Tea keeps the mark bits of spans of 16..512-byte objects inline at the span's end (Go:
    gcUsesSpanInlineMarkBits); marking a noscan object there sets no page mark (model.gc.mark)."""
    return TINY_SIZE <= slot_bytes <= MIN_SIZE_FOR_MALLOC_HEADER


def oblet_count(slot_bytes: int) -> int:
    """How many work items scanning an object of this slot size takes: objects over 128 KiB split into oblets."""
    if slot_bytes <= MAX_OBLET_BYTES:
        return 1
    return -(-slot_bytes // MAX_OBLET_BYTES)


TINY_SIZE_CLASS = size_class_of(TINY_SIZE)  # Go: tinySizeClass
TINY_SPAN_CLASS = SpanClass.make(TINY_SIZE_CLASS, True)  # Go: tinySpanClass, the 16-byte noscan class
