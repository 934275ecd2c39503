/*
 * nextfit: a small page allocator in C that speaks the oracle's subprocess protocol.
 *
 * This is the example to copy when validating a page allocator written in
 * C, Rust or Zig against the model (SPEC.md §12). It reads one JSON object
 * a line on stdin and answers each with exactly one line on stdout,
 * flushed at once:
 *
 *   {"trace": "pagealloc", "version": V, "params": {...}}  -> {"ok": true, "snapshot": false}
 *   {"op": "grow", "chunk": C, "nchunks": K}               -> {}
 *   {"op": "alloc", "npages": N}                           -> {"page": P|null, "scav": S}
 *   {"op": "free", "page": P, "npages": N}                 -> {}
 *   {"op": "cache_fill", "cache": ID}                      -> {"base": P|null, "free": "0x..", "scav": "0x.."}
 *   {"op": "cache_alloc", "cache": ID, "npages": N}        -> {"page": P|null, "scav": S}
 *   {"op": "cache_flush", "cache": ID}                     -> {}
 *   {"op": "scavenge", "npages": N[, "force": B]}          -> {"released": R}
 *   {"op": "next_gen"}                  (version >= 2)     -> {}
 *   {"op": "pad", "page": P, "npages": N} (version >= 3)   -> {}
 *   anything refused or unreadable                         -> {"error": "why"}
 *
 * It accepts trace versions 1, 2 and 3 and implements every op of each,
 * for amd64's address space only (a header naming another params.arch is
 * refused). It offers no snapshots, so the oracle judges it by its answers
 * alone.
 *
 * Placement policy: NEXT FIT. An allocation takes the first run of free
 * pages that starts at or after the end of the previous allocation (the
 * "rover"), wrapping around to the lowest page when none does. Go's page
 * allocator takes the lowest run (address-ordered first fit). Both are
 * correct allocators, so this one passes the oracle's safe level, and it
 * fails the exact level at the first allocation after a free below the
 * rover: Go reuses the freed pages, next fit does not. Cache fills take the
 * lowest 64-page block with a free page; scavenging releases free pages
 * one at a time from the highest address down (Go releases whole physical
 * pages, huge-page aware; the safe level only checks the count is possible).
 *
 * Layout: the grown chunks, sorted by index, in one array; each has three
 * bitmaps of chunk_pages bits (in use, scavenged, padding). Invariants,
 * kept by every op: a page is scavenged only while free or padding; a page
 * a cache holds is in use here and free in that cache's mask; padding is in
 * use and never freed. Refusals change nothing: every op checks all its
 * pages before touching any.
 *
 * Build: cc -O2 -std=c11 -Wall -Wextra -o nextfit pagealloc.c
 */

#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_PAGES 64
#define TOTAL_CHUNKS (UINT64_C(1) << 26) /* Go's amd64 heap: 2^14 root entries, 4 levels of 8 below */
#define MAX_FIELDS 32

/* ---- A reader for the flat JSON objects of the protocol ---------------------------------- */

enum kind { K_INT, K_BOOL, K_NULL, K_STRING, K_OTHER };

struct field {
    char key[48]; /* "op", or "params.chunk_pages" for a field of a nested object */
    enum kind kind;
    int64_t num; /* K_INT, K_BOOL */
    char str[48]; /* K_STRING, cut to fit */
};

struct object {
    struct field fields[MAX_FIELDS];
    int count;
};

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

/* A string's text into out (escapes kept as the escaped character); NULL on a malformed string. */
static const char *read_string(const char *p, char *out, size_t size) {
    size_t n = 0;
    if (*p != '"') return NULL;
    p++;
    while (*p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            if (!*p) return NULL;
            c = *p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!*p++) return NULL;
                c = '?';
            }
        }
        if (n + 1 < size) out[n++] = c;
    }
    if (*p != '"') return NULL;
    out[n] = '\0';
    return p + 1;
}

static const char *read_object(const char *p, struct object *obj, const char *prefix);

/* Skip any JSON value (arrays and objects nested in places the protocol has none). */
static const char *skip_value(const char *p, int depth) {
    char scratch[8];
    p = skip_space(p);
    if (depth > 64) return NULL;
    if (*p == '"') return read_string(p, scratch, sizeof scratch);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_space(p + 1);
        if (*p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                p = read_string(skip_space(p), scratch, sizeof scratch);
                if (!p) return NULL;
                p = skip_space(p);
                if (*p++ != ':') return NULL;
            }
            p = skip_value(p, depth + 1);
            if (!p) return NULL;
            p = skip_space(p);
            if (*p == ',') { p++; continue; }
            if (*p == close) return p + 1;
            return NULL;
        }
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        p++;
        while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-') p++;
        return p;
    }
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return NULL;
}

static const char *read_value(const char *p, struct field *f) {
    p = skip_space(p);
    f->kind = K_OTHER;
    if (*p == '"') {
        f->kind = K_STRING;
        return read_string(p, f->str, sizeof f->str);
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) {
        const char *start = p;
        bool negative = *p == '-';
        uint64_t value = 0;
        bool overflow = false;
        if (negative) p++;
        if (!(*p >= '0' && *p <= '9')) return NULL;
        while (*p >= '0' && *p <= '9') {
            uint64_t digit = (uint64_t)(*p++ - '0');
            if (value > (UINT64_C(1) << 62) / 10) overflow = true;
            value = value * 10 + digit;
        }
        if (*p == '.' || *p == 'e' || *p == 'E' || overflow) return skip_value(start, 0); /* not a count: K_OTHER */
        f->kind = K_INT;
        f->num = negative ? -(int64_t)value : (int64_t)value;
        return p;
    }
    if (!strncmp(p, "true", 4)) { f->kind = K_BOOL; f->num = 1; return p + 4; }
    if (!strncmp(p, "false", 5)) { f->kind = K_BOOL; f->num = 0; return p + 5; }
    if (!strncmp(p, "null", 4)) { f->kind = K_NULL; return p + 4; }
    return skip_value(p, 0);
}

static const char *read_object(const char *p, struct object *obj, const char *prefix) {
    p = skip_space(p);
    if (*p++ != '{') return NULL;
    p = skip_space(p);
    if (*p == '}') return p + 1;
    for (;;) {
        char key[40];
        p = read_string(skip_space(p), key, sizeof key);
        if (!p) return NULL;
        p = skip_space(p);
        if (*p++ != ':') return NULL;
        p = skip_space(p);
        if (*p == '{' && !*prefix) {
            char nested[48];
            snprintf(nested, sizeof nested, "%s.", key);
            p = read_object(p, obj, nested);
        } else if (obj->count < MAX_FIELDS) {
            struct field *f = &obj->fields[obj->count++];
            snprintf(f->key, sizeof f->key, "%s%s", prefix, key);
            p = read_value(p, f);
        } else {
            p = skip_value(p, 1);
        }
        if (!p) return NULL;
        p = skip_space(p);
        if (*p == ',') { p++; continue; }
        if (*p == '}') return p + 1;
        return NULL;
    }
}

static const struct field *find(const struct object *obj, const char *key) {
    for (int i = 0; i < obj->count; i++)
        if (!strcmp(obj->fields[i].key, key)) return &obj->fields[i];
    return NULL;
}

/* ---- Answers ------------------------------------------------------------------------------ */

static char answer[512];

/* A refusal; `why` goes into a JSON string as it is, so it holds no quote or backslash (all are constants). */
static void refuse(const char *why) { snprintf(answer, sizeof answer, "{\"error\": \"%s\"}", why); }

/* An integer field >= minimum into *out; false (and the refusal written) otherwise. */
static bool get_count(const struct object *obj, const char *key, int64_t minimum, int64_t *out) {
    const struct field *f = find(obj, key);
    if (!f || f->kind != K_INT) {
        snprintf(answer, sizeof answer, "{\"error\": \"field %s must be an integer\"}", key);
        return false;
    }
    if (f->num < minimum) {
        snprintf(answer, sizeof answer, "{\"error\": \"field %s must be >= %" PRId64 "\"}", key, minimum);
        return false;
    }
    *out = f->num;
    return true;
}

/* ---- The heap ----------------------------------------------------------------------------- */

struct chunk {
    uint64_t index;
    uint64_t *used, *scav, *pad; /* words_per_chunk words each; bit i of the chunk is page i */
};

struct cache {
    int64_t id;
    int64_t base; /* meaningful while free != 0 */
    uint64_t free, scav;
};

static struct {
    bool started;
    int version;
    int64_t chunk_pages, words;
    struct chunk *chunks; /* sorted by index */
    size_t nchunks, cap;
    struct cache *caches;
    size_t ncaches, cache_cap;
    int64_t rover; /* next fit: where the next search starts */
} heap;

static void reset(void) {
    for (size_t i = 0; i < heap.nchunks; i++) {
        free(heap.chunks[i].used);
        free(heap.chunks[i].scav);
        free(heap.chunks[i].pad);
    }
    free(heap.chunks);
    free(heap.caches);
    memset(&heap, 0, sizeof heap);
}

/* The position of chunk c in the array, or where it would go (*found says which). */
static size_t locate(uint64_t c, bool *found) {
    size_t lo = 0, hi = heap.nchunks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (heap.chunks[mid].index < c) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < heap.nchunks && heap.chunks[lo].index == c;
    return lo;
}

static struct chunk *chunk_of(int64_t page) {
    bool found;
    size_t at = locate((uint64_t)(page / heap.chunk_pages), &found);
    return found ? &heap.chunks[at] : NULL;
}

static bool bit(const uint64_t *words, int64_t i) { return words[i / 64] >> (i % 64) & 1; }
static void set_bit(uint64_t *words, int64_t i, bool on) {
    if (on) words[i / 64] |= UINT64_C(1) << (i % 64);
    else words[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static bool page_used(int64_t page) {
    struct chunk *c = chunk_of(page);
    return !c || bit(c->used, page % heap.chunk_pages); /* a page outside the heap counts as in use */
}

static struct cache *cache_by_id(int64_t id) {
    for (size_t i = 0; i < heap.ncaches; i++)
        if (heap.caches[i].id == id) return &heap.caches[i];
    return NULL;
}

static void op_grow(const struct object *obj) {
    int64_t first, count;
    if (!get_count(obj, "chunk", 0, &first) || !get_count(obj, "nchunks", 1, &count)) return;
    if ((uint64_t)first + (uint64_t)count > TOTAL_CHUNKS) return refuse("grow past the address space");
    for (int64_t c = first; c < first + count; c++) {
        bool found;
        locate((uint64_t)c, &found);
        if (found) return refuse("grow over a chunk already grown");
    }
    for (int64_t c = first; c < first + count; c++) {
        bool found;
        size_t at = locate((uint64_t)c, &found);
        if (heap.nchunks == heap.cap) {
            heap.cap = heap.cap ? 2 * heap.cap : 16;
            heap.chunks = realloc(heap.chunks, heap.cap * sizeof *heap.chunks);
        }
        memmove(&heap.chunks[at + 1], &heap.chunks[at], (heap.nchunks - at) * sizeof *heap.chunks);
        struct chunk *ch = &heap.chunks[at];
        ch->index = (uint64_t)c;
        ch->used = calloc((size_t)heap.words, 8);
        ch->scav = malloc((size_t)heap.words * 8);
        ch->pad = calloc((size_t)heap.words, 8);
        memset(ch->scav, 0xff, (size_t)heap.words * 8); /* fresh memory starts released, as in Go */
        heap.nchunks++;
    }
    strcpy(answer, "{}");
}

/* Mark [page, page+n) in use and unscavenged; the number that were scavenged. */
static int64_t take(int64_t page, int64_t n) {
    int64_t scav = 0;
    for (int64_t p = page; p < page + n; p++) {
        struct chunk *c = chunk_of(p);
        int64_t i = p % heap.chunk_pages;
        scav += bit(c->scav, i);
        set_bit(c->used, i, true);
        set_bit(c->scav, i, false);
    }
    return scav;
}

/* The first run of n free pages starting at or after `from`, or -1; runs continue across adjacent chunks. */
static int64_t first_fit(int64_t n, int64_t from) {
    int64_t run_start = -1, run = 0, next = -1;
    for (size_t k = 0; k < heap.nchunks; k++) {
        struct chunk *c = &heap.chunks[k];
        int64_t base = (int64_t)c->index * heap.chunk_pages;
        if (base + heap.chunk_pages <= from) continue;
        if (base != next) run = 0; /* a chunk never grown lies between: the run breaks */
        for (int64_t i = 0; i < heap.chunk_pages; i++) {
            int64_t p = base + i;
            if (p < from || bit(c->used, i)) {
                if (c->used[i / 64] == UINT64_MAX && i % 64 == 0 && p >= from) i += 63;
                run = 0;
                continue;
            }
            if (run == 0) run_start = p;
            if (++run == n) return run_start;
        }
        next = base + heap.chunk_pages;
    }
    return -1;
}

static void op_alloc(const struct object *obj) {
    int64_t n;
    if (!get_count(obj, "npages", 1, &n)) return;
    int64_t page = first_fit(n, heap.rover);
    if (page < 0 && heap.rover > 0) page = first_fit(n, 0); /* wrap around */
    if (page < 0) {
        strcpy(answer, "{\"page\": null, \"scav\": 0}");
        return;
    }
    int64_t scav = take(page, n);
    heap.rover = page + n;
    snprintf(answer, sizeof answer, "{\"page\": %" PRId64 ", \"scav\": %" PRId64 "}", page, scav);
}

/* Why page p cannot be freed, or NULL. */
static const char *unfreeable(int64_t p) {
    struct chunk *c = chunk_of(p);
    if (!c) return "free of a page that is not in the heap";
    int64_t i = p % heap.chunk_pages;
    if (!bit(c->used, i)) return "free of a page that is not in use";
    if (bit(c->pad, i)) return "free of a page that is padding";
    for (size_t k = 0; k < heap.ncaches; k++) {
        struct cache *cc = &heap.caches[k];
        if (cc->free && p >= cc->base && p < cc->base + CACHE_PAGES && (cc->free >> (p - cc->base) & 1))
            return "free of a page a cache holds";
    }
    return NULL;
}

static void op_free(const struct object *obj) {
    int64_t page, n;
    if (!get_count(obj, "page", 0, &page) || !get_count(obj, "npages", 1, &n)) return;
    if ((uint64_t)page + (uint64_t)n > TOTAL_CHUNKS * (uint64_t)heap.chunk_pages)
        return refuse("free past the address space");
    for (int64_t p = page; p < page + n; p++) {
        const char *why = unfreeable(p);
        if (why) return refuse(why);
    }
    for (int64_t p = page; p < page + n; p++) set_bit(chunk_of(p)->used, p % heap.chunk_pages, false);
    strcpy(answer, "{}");
}

static void op_cache_fill(const struct object *obj) {
    int64_t id;
    if (!get_count(obj, "cache", 0, &id)) return;
    struct cache *cc = cache_by_id(id);
    if (cc && cc->free) return refuse("cache_fill into a cache that is not empty");
    if (!cc) {
        if (heap.ncaches == heap.cache_cap) {
            heap.cache_cap = heap.cache_cap ? 2 * heap.cache_cap : 8;
            heap.caches = realloc(heap.caches, heap.cache_cap * sizeof *heap.caches);
        }
        cc = &heap.caches[heap.ncaches++];
        cc->id = id;
    }
    cc->base = 0;
    cc->free = cc->scav = 0;
    int64_t page = first_fit(1, 0); /* the lowest free page */
    if (page < 0) {
        strcpy(answer, "{\"base\": null, \"free\": \"0x0000000000000000\", \"scav\": \"0x0000000000000000\"}");
        return;
    }
    cc->base = page - page % CACHE_PAGES;
    for (int i = 0; i < CACHE_PAGES; i++) {
        int64_t p = cc->base + i;
        if (page_used(p)) continue;
        cc->free |= UINT64_C(1) << i;
        if (take(p, 1)) cc->scav |= UINT64_C(1) << i;
    }
    snprintf(answer, sizeof answer, "{\"base\": %" PRId64 ", \"free\": \"0x%016" PRIx64 "\", \"scav\": \"0x%016" PRIx64 "\"}",
             cc->base, cc->free, cc->scav);
}

static void op_cache_alloc(const struct object *obj) {
    int64_t id, n;
    if (!get_count(obj, "cache", 0, &id) || !get_count(obj, "npages", 1, &n)) return;
    if (n > CACHE_PAGES) return refuse("cache_alloc of more than 64 pages");
    struct cache *cc = cache_by_id(id);
    if (!cc) return refuse("unknown cache id");
    uint64_t mask = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
    for (int i = 0; i + n <= CACHE_PAGES; i++) {
        uint64_t want = mask << i;
        if ((cc->free & want) == want) {
            int scav = __builtin_popcountll(cc->scav & want);
            cc->free &= ~want;
            cc->scav &= ~want;
            snprintf(answer, sizeof answer, "{\"page\": %" PRId64 ", \"scav\": %d}", cc->base + i, scav);
            return;
        }
    }
    strcpy(answer, "{\"page\": null, \"scav\": 0}");
}

static void op_cache_flush(const struct object *obj) {
    int64_t id;
    if (!get_count(obj, "cache", 0, &id)) return;
    struct cache *cc = cache_by_id(id);
    if (!cc) return refuse("unknown cache id");
    for (int i = 0; i < CACHE_PAGES; i++) {
        if (!(cc->free >> i & 1)) continue;
        int64_t p = cc->base + i;
        struct chunk *c = chunk_of(p);
        set_bit(c->used, p % heap.chunk_pages, false);
        set_bit(c->scav, p % heap.chunk_pages, cc->scav >> i & 1);
    }
    cc->free = cc->scav = 0;
    strcpy(answer, "{}");
}

static void op_scavenge(const struct object *obj) {
    int64_t n, released = 0;
    if (!get_count(obj, "npages", 1, &n)) return;
    const struct field *force = find(obj, "force");
    if (force && heap.version >= 2 && force->kind != K_BOOL) return refuse("scavenge: force must be true or false");
    for (size_t k = heap.nchunks; k-- > 0 && released < n;) {
        struct chunk *c = &heap.chunks[k];
        for (int64_t i = heap.chunk_pages - 1; i >= 0 && released < n; i--) {
            if (bit(c->used, i) || bit(c->scav, i)) continue;
            set_bit(c->scav, i, true);
            released++;
        }
    }
    snprintf(answer, sizeof answer, "{\"released\": %" PRId64 "}", released);
}

static void op_pad(const struct object *obj) {
    int64_t page, n;
    if (!get_count(obj, "page", 0, &page) || !get_count(obj, "npages", 1, &n)) return;
    if ((uint64_t)page + (uint64_t)n > TOTAL_CHUNKS * (uint64_t)heap.chunk_pages)
        return refuse("pad past the address space");
    for (int64_t p = page; p < page + n; p++)
        if (page_used(p)) return refuse("pad of a page that is not a free page of the heap");
    for (int64_t p = page; p < page + n; p++) {
        struct chunk *c = chunk_of(p);
        int64_t i = p % heap.chunk_pages;
        set_bit(c->used, i, true);
        set_bit(c->scav, i, true);
        set_bit(c->pad, i, true);
    }
    strcpy(answer, "{}");
}

static bool power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

static void start(const struct object *obj) {
    const struct field *trace = find(obj, "trace"), *version = find(obj, "version");
    const struct field *cp = find(obj, "params.chunk_pages"), *phys = find(obj, "params.phys_page_pages");
    const struct field *huge = find(obj, "params.huge_page_pages"), *arch = find(obj, "params.arch");
    reset();
    if (!trace || trace->kind != K_STRING || strcmp(trace->str, "pagealloc"))
        return refuse("not a pagealloc trace header");
    if (!version || version->kind != K_INT || version->num < 1 || version->num > 3)
        return refuse("this allocator reads trace versions 1 to 3");
    if (!cp || cp->kind != K_INT || !power_of_two(cp->num) || cp->num < 64 || cp->num > 4096)
        return refuse("chunk_pages must be a power of two from 64 to 4096");
    if (!phys || phys->kind != K_INT || !power_of_two(phys->num) || phys->num > 64)
        return refuse("phys_page_pages must be a power of two up to 64");
    if (!huge || huge->kind != K_INT || huge->num < 0 || (huge->num && !power_of_two(huge->num)) || huge->num > cp->num)
        return refuse("huge_page_pages must be 0 or a power of two up to chunk_pages");
    if (arch && (arch->kind != K_STRING || strcmp(arch->str, "amd64")))
        return refuse("this allocator models amd64's address space only (params.arch absent or amd64)");
    heap.started = true;
    heap.version = (int)version->num;
    heap.chunk_pages = cp->num;
    heap.words = cp->num / 64;
    strcpy(answer, "{\"ok\": true, \"snapshot\": false}");
}

static void handle(const char *line) {
    struct object obj = {.count = 0};
    const char *end = read_object(line, &obj, "");
    if (!end || *skip_space(end)) return refuse("not one JSON object");
    if (find(&obj, "trace")) return start(&obj);
    if (!heap.started) return refuse("no header yet");
    const struct field *op = find(&obj, "op");
    if (!op || op->kind != K_STRING) return refuse("missing op");
    if (!strcmp(op->str, "grow")) return op_grow(&obj);
    if (!strcmp(op->str, "alloc")) return op_alloc(&obj);
    if (!strcmp(op->str, "free")) return op_free(&obj);
    if (!strcmp(op->str, "cache_fill")) return op_cache_fill(&obj);
    if (!strcmp(op->str, "cache_alloc")) return op_cache_alloc(&obj);
    if (!strcmp(op->str, "cache_flush")) return op_cache_flush(&obj);
    if (!strcmp(op->str, "scavenge")) return op_scavenge(&obj);
    if (!strcmp(op->str, "next_gen") && heap.version >= 2) {
        strcpy(answer, "{}"); /* next fit keeps no GC generations */
        return;
    }
    if (!strcmp(op->str, "pad") && heap.version >= 3) return op_pad(&obj);
    if (!strcmp(op->str, "snapshot")) return refuse("no snapshots: the header answer said so");
    refuse("unknown op");
}

int main(void) {
    char *line = NULL;
    size_t size = 0;
    ssize_t length;
    while ((length = getline(&line, &size, stdin)) > 0) {
        if (strspn(line, " \t\r\n") == (size_t)length) continue; /* a blank line asks nothing */
        handle(line);
        fputs(answer, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(line);
    reset();
    return 0;
}
