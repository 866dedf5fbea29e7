/* The matcher's hot loop: text -> internal byte form -> whole tokens looked up by hash -> names.
 *
 * streams/normalize.py defines the internal form and hands over a table that maps every BMP code
 * point to its internal byte (or "dropped", or "not in the table"); streams/matcher.py compiles the
 * watchlist and hands over the whole-token patterns (each anchor token with its clitic forms) and,
 * per pattern, the names it may start and the tokens and proclitic stacks those names need around
 * it. This file makes the common path fast: one table load and one hash step per character, a
 * filter probe per token, the neighbouring tokens compared for the few tokens that hit. Characters
 * outside the table send the article back to Python, which normalizes it and calls find().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define DROPPED 0x100 /* table value: the character is dropped (diacritics, tatweel, bidi marks) */
#define UNKNOWN 0x200 /* table value: not handled here; Python normalizes the text instead */
#define TABLE_SIZE 0x10000
#define SPACE 0x20

typedef struct {
    uint32_t tag; /* the top half of the token's hash */
    uint32_t length; /* 0 marks an empty slot (patterns are never empty) */
    uint32_t offset;
    uint32_t id;
} Slot;

/* A compiled name: its tokens are spans [first_token, first_token + count) of the token blob. */
typedef struct {
    uint32_t first_token;
    uint32_t count;
    uint32_t anchor; /* the token its patterns are made of; the others are compared around it */
    uint32_t rule;   /* which proclitics its first token may carry (RULE_* below) */
} Name;

enum { RULE_NONE, RULE_ARABIC, RULE_DEFINITE };
enum { STACKS_ALL, STACKS_WITHOUT_LAM, STACKS_LAM_ONLY, STACK_SETS };
#define MAX_STACKS 16

typedef struct {
    PyObject_HEAD
    uint16_t *table;
    Slot *slots;
    uint32_t slot_mask;
    uint64_t *filter; /* one bit per tag value modulo its size: most tokens stop here */
    uint32_t filter_mask;
    char *keys;
    Py_ssize_t patterns;
    Py_ssize_t min_length;
    Py_ssize_t max_length;
    /* What a pattern hit may be: targets[pattern_targets[2p] ...] for pattern_targets[2p + 1]
     * targets, each a (name, proclitic bytes in the pattern) pair. */
    uint32_t *pattern_targets;
    uint32_t *targets;
    Name *names;
    uint32_t *token_spans; /* (offset, length) pairs into token_bytes */
    uint8_t *token_bytes;
    uint32_t stacks[STACK_SETS][MAX_STACKS]; /* proclitic stacks, each coded by stack_code() */
    uint32_t stack_count[STACK_SETS];
    size_t name_bytes; /* held by the name tables above */
} Scanner;

/* The per-byte step is a rotate and an xor (a short dependency chain); the tag is the top half
 * of one multiply (Fibonacci hashing), which every bit of the step hash reaches. */
static inline uint64_t step(uint64_t h, uint8_t byte) { return ((h << 7) | (h >> 57)) ^ byte; }

static inline uint32_t tag_of(uint64_t h) { return (uint32_t)((h * 0x9E3779B97F4A7C15ULL) >> 32); }

static uint32_t tag_bytes(const uint8_t *bytes, Py_ssize_t length)
{
    uint64_t h = 0;
    for (Py_ssize_t i = 0; i < length; i++)
        h = step(h, bytes[i]);
    return tag_of(h);
}

static uint64_t power_of_two_at_least(uint64_t n)
{
    uint64_t size = 1;
    while (size < n)
        size <<= 1;
    return size;
}

static inline int filter_has(const Scanner *s, uint32_t tag)
{
    uint32_t bit = tag & s->filter_mask;
    return (s->filter[bit >> 6] >> (bit & 63)) & 1;
}

static inline uint32_t first_slot(const Scanner *s, uint32_t tag) { return (tag >> 7) & s->slot_mask; }

/* The pattern id of a token that passed the filter, or -1. */
static Py_ssize_t find_slot(const Scanner *s, const uint8_t *token, Py_ssize_t length, uint32_t tag)
{
    if (length < s->min_length || length > s->max_length)
        return -1;
    for (uint32_t i = first_slot(s, tag);; i = (i + 1) & s->slot_mask) {
        const Slot *slot = &s->slots[i];
        if (slot->length == 0)
            return -1;
        if (slot->tag == tag && slot->length == (uint32_t)length &&
            memcmp(s->keys + slot->offset, token, (size_t)length) == 0)
            return slot->id;
    }
}

/* Runs without the GIL: on a repeated key it stores the earlier pattern's id in *repeat, returns -1. */
static int add_pattern(Scanner *s, const uint8_t *key, Py_ssize_t length, uint32_t offset, uint32_t id,
                       uint32_t *repeat)
{
    uint32_t tag = tag_bytes(key, length), bit = tag & s->filter_mask;
    s->filter[bit >> 6] |= 1ULL << (bit & 63);
    for (uint32_t i = first_slot(s, tag);; i = (i + 1) & s->slot_mask) {
        Slot *slot = &s->slots[i];
        if (slot->length == 0) {
            *slot = (Slot){tag, (uint32_t)length, offset, id};
            return 0;
        }
        if (slot->tag == tag && slot->length == (uint32_t)length &&
            memcmp(s->keys + slot->offset, key, (size_t)length) == 0) {
            *repeat = slot->id;
            return -1;
        }
    }
}

/* Tokens equal to a pattern, kept until the whole text is in the internal form: the tokens after
 * an anchor are compared only then. */
typedef struct {
    uint32_t start, end, pattern; /* the token is out[start:end] */
} RawHit;

typedef struct {
    RawHit *items;
    Py_ssize_t count, capacity;
    RawHit local[64];
} RawHits;

static void raw_hits_init(RawHits *r)
{
    r->items = r->local;
    r->count = 0;
    r->capacity = 64;
}

static void raw_hits_free(RawHits *r)
{
    if (r->items != r->local)
        PyMem_Free(r->items);
}

static int raw_hits_add(RawHits *r, Py_ssize_t start, Py_ssize_t end, Py_ssize_t pattern)
{
    if (r->count == r->capacity) {
        Py_ssize_t capacity = r->capacity * 2;
        RawHit *items = PyMem_Malloc((size_t)capacity * sizeof(RawHit));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(items, r->items, (size_t)r->count * sizeof(RawHit));
        raw_hits_free(r);
        r->items = items;
        r->capacity = capacity;
    }
    r->items[r->count++] = (RawHit){(uint32_t)start, (uint32_t)end, (uint32_t)pattern};
    return 0;
}

/* --- What a hit means: the names of a pattern, checked against the tokens around it ------------ */

static inline uint32_t stack_code(const uint8_t *stack, Py_ssize_t length)
{
    uint32_t code = (uint32_t)length;
    for (Py_ssize_t i = 0; i < length; i++)
        code |= (uint32_t)stack[i] << (8 * (i + 1));
    return code;
}

static int stack_allowed(const Scanner *s, int set, const uint8_t *stack, Py_ssize_t length)
{
    if (length > 3)
        return 0;
    uint32_t code = stack_code(stack, length);
    for (uint32_t i = 0; i < s->stack_count[set]; i++)
        if (s->stacks[set][i] == code)
            return 1;
    return 0;
}

static inline const uint8_t *token_of(const Scanner *s, uint32_t index, Py_ssize_t *length)
{
    *length = s->token_spans[2 * index + 1];
    return s->token_bytes + s->token_spans[2 * index];
}

/* Proclitic bytes before a name's first token in a text token, or -1 (Name._clitics in Python). */
static Py_ssize_t clitics_of(const Scanner *s, const Name *name, const uint8_t *token, Py_ssize_t length)
{
    Py_ssize_t first_length;
    const uint8_t *first = token_of(s, name->first_token, &first_length);
    if (length == first_length && memcmp(token, first, (size_t)length) == 0)
        return 0;
    if (name->rule == RULE_NONE)
        return -1;
    Py_ssize_t stack;
    int set;
    if (length > first_length && memcmp(token + length - first_length, first, (size_t)first_length) == 0) {
        stack = length - first_length;
        set = name->rule == RULE_DEFINITE ? STACKS_WITHOUT_LAM : STACKS_ALL;
    } else if (name->rule == RULE_DEFINITE && length >= first_length - 1 &&
               memcmp(token + length - (first_length - 1), first + 1, (size_t)first_length - 1) == 0) {
        stack = length - first_length + 1; /* ل + الموصل is written للموصل */
        set = STACKS_LAM_ONLY;
    } else {
        return -1;
    }
    return stack_allowed(s, set, token, stack) ? stack : -1;
}

/* End (one past the following space) of the name's tokens after the anchor, read from pos; or -1. */
static Py_ssize_t tokens_after(const Scanner *s, const Name *name, const uint8_t *out, Py_ssize_t size,
                               Py_ssize_t pos)
{
    for (uint32_t j = name->anchor + 1; j < name->count; j++) {
        Py_ssize_t length;
        const uint8_t *token = token_of(s, name->first_token + j, &length);
        while (pos < size && out[pos] == SPACE)
            pos++;
        Py_ssize_t end = pos + length;
        if (end >= size || out[end] != SPACE || memcmp(out + pos, token, (size_t)length) != 0)
            return -1;
        pos = end + 1;
    }
    return pos;
}

static inline Py_ssize_t skip_spaces_backward(const uint8_t *out, Py_ssize_t pos)
{
    while (pos > 0 && out[pos - 1] == SPACE)
        pos--;
    return pos;
}

/* Start of the name's tokens between its first token and the anchor, read backwards as whole tokens
 * ending before pos; or -1. */
static Py_ssize_t tokens_before(const Scanner *s, const Name *name, const uint8_t *out, Py_ssize_t pos)
{
    for (uint32_t j = name->anchor - 1; j >= 1; j--) {
        Py_ssize_t length;
        const uint8_t *token = token_of(s, name->first_token + j, &length);
        Py_ssize_t end = skip_spaces_backward(out, pos);
        pos = end - length;
        if (pos < 1 || out[pos - 1] != SPACE || memcmp(out + pos, token, (size_t)length) != 0)
            return -1;
    }
    return pos;
}

static int append_hit(PyObject *hits, Py_ssize_t token_start, Py_ssize_t end, Py_ssize_t clitics,
                      uint32_t name, uint32_t tokens)
{
    PyObject *hit = Py_BuildValue("(nnnII)", token_start, end, clitics, name, tokens);
    if (hit == NULL)
        return -1;
    int failed = PyList_Append(hits, hit);
    Py_DECREF(hit);
    return failed;
}

/* Appends the whole-name matches that an anchor token at out[start:end] takes part in. */
static int match_names(const Scanner *s, const uint8_t *out, Py_ssize_t size, const RawHit *raw, PyObject *hits)
{
    const uint32_t *first = s->targets + 2 * s->pattern_targets[2 * raw->pattern];
    for (uint32_t t = 0; t < s->pattern_targets[2 * raw->pattern + 1]; t++) {
        uint32_t name_index = first[2 * t];
        Py_ssize_t clitics = first[2 * t + 1];
        const Name *name = &s->names[name_index];
        Py_ssize_t end = tokens_after(s, name, out, size, (Py_ssize_t)raw->end + 1);
        if (end < 0)
            continue;
        Py_ssize_t token_start = raw->start;
        if (name->anchor > 0) {
            Py_ssize_t second_start = tokens_before(s, name, out, raw->start - 1);
            Py_ssize_t first_end = second_start < 0 ? 0 : skip_spaces_backward(out, second_start);
            if (first_end <= 0)
                continue;
            token_start = first_end;
            while (token_start > 0 && out[token_start - 1] != SPACE)
                token_start--;
            clitics = clitics_of(s, name, out + token_start, first_end - token_start);
            if (clitics < 0)
                continue;
        }
        if (append_hit(hits, token_start, end, clitics, name_index, name->count) < 0)
            return -1;
    }
    return 0;
}

static PyObject *matches(const Scanner *s, const uint8_t *out, Py_ssize_t size, const RawHits *raw)
{
    PyObject *hits = PyList_New(0);
    for (Py_ssize_t i = 0; hits != NULL && i < raw->count; i++)
        if (match_names(s, out, size, &raw->items[i], hits) < 0)
            Py_CLEAR(hits);
    return hits;
}

/* --- The character loop ---------------------------------------------------------------------- */

/* The character loop records, for every output byte, the tag of the token so far and the byte's
 * position, in one 8-byte store; a space after a token keeps its record. The loop thus has no
 * branch that depends on the text: one mispredicted branch per token cost more than all the rest. */
#define PENDING 1024

static int look_up_pending(const Scanner *s, const uint8_t *out, const uint64_t *records, Py_ssize_t count,
                           RawHits *raw)
{
    for (Py_ssize_t t = 0; t < count; t++) {
        uint32_t tag = (uint32_t)(records[t] >> 32), end = (uint32_t)records[t];
        if (!filter_has(s, tag))
            continue;
        Py_ssize_t start = end, limit = (Py_ssize_t)end - s->max_length - 1;
        while (start > limit && start > 0 && out[start - 1] != SPACE)
            start--;
        Py_ssize_t id = find_slot(s, out + start, end - start, tag);
        if (id >= 0 && raw_hits_add(raw, start, end, id) < 0)
            return -1;
    }
    return 0;
}

#define PUT(VALUE)                                                                                 \
    do {                                                                                           \
        uint8_t byte_ = (VALUE);                                                                   \
        uint64_t space_ = byte_ == SPACE;                                                          \
        records[count] = ((uint64_t)tag_of(h) << 32) | (uint64_t)o;                                \
        count += space_ & in_token;                                                                \
        /* and, rotate, xor: the shortest chain that also restarts the hash at a token's start */   \
        h = step(h & carry, byte_);                                                                \
        carry = space_ - 1; /* all ones when this byte belongs to a token */                       \
        in_token = carry & 1;                                                                      \
        out[o++] = byte_;                                                                          \
    } while (0)

#define TRANSLATE(CHAR_TYPE)                                                                       \
    do {                                                                                           \
        const CHAR_TYPE *restrict chars = (const CHAR_TYPE *)data;                                 \
        for (Py_ssize_t i = 0; i < length; i++) {                                                  \
            uint16_t value = table[chars[i]];                                                      \
            if (value > 0xFF) {                                                                    \
                if (value == UNKNOWN)                                                              \
                    return 1;                                                                      \
                continue; /* DROPPED */                                                            \
            }                                                                                      \
            PUT(value);                                                                            \
            if (count == PENDING) {                                                                \
                if (look_up_pending(s, out, records, count, raw) < 0)                              \
                    return -1;                                                                     \
                count = 0;                                                                         \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Translates one text into out[*position...], followed by a space, and looks up its tokens.
 * Returns 1 if a character is not in the table, -1 on error. */
static int translate(const Scanner *s, PyObject *text, uint8_t *restrict out, Py_ssize_t *position,
                     RawHits *raw)
{
    uint64_t records[PENDING + 1];
    const uint16_t *restrict table = s->table;
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), count = 0, o = *position;
    uint64_t in_token = 0, carry = 0, h = 0;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        TRANSLATE(Py_UCS1);
        break;
    case PyUnicode_2BYTE_KIND:
        TRANSLATE(Py_UCS2);
        break;
    default:
        return 1; /* characters beyond the BMP: the table does not cover them */
    }
    PUT(SPACE);
    *position = o;
    return look_up_pending(s, out, records, count, raw);
}

static int check_ready(const Scanner *s)
{
    if (s->table != NULL)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "Scanner is not initialized");
    return -1;
}

PyDoc_STRVAR(scan_doc,
             "scan(title, body) -> (joined, hits) | None\n\n"
             "The internal form b' ' + title + b' \\n ' + body + b' ' and the (token start, end, clitics,\n"
             "name, tokens) of every whole-name match in it, overlapping ones included, end one past\n"
             "the space after the match; None when a character is not in the table (the caller then\n"
             "normalizes in Python and calls find).");

static PyObject *Scanner_scan(Scanner *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "scan(title: str, body: str)");
        return NULL;
    }
    if (check_ready(s) < 0)
        return NULL;
    /* One byte at most per character, plus the five separator bytes around and between the texts. */
    Py_ssize_t capacity = PyUnicode_GET_LENGTH(args[0]) + PyUnicode_GET_LENGTH(args[1]) + 5;
    if (capacity > UINT32_MAX) /* positions are recorded in 32 bits */
        Py_RETURN_NONE;
    PyObject *joined = PyBytes_FromStringAndSize(NULL, capacity), *hits = NULL, *pair = NULL;
    if (joined == NULL)
        return NULL;
    RawHits raw;
    raw_hits_init(&raw);
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(joined);
    Py_ssize_t o = 0;
    out[o++] = SPACE;
    int result = translate(s, args[0], out, &o, &raw);
    if (result == 0) {
        out[o++] = '\n';
        out[o++] = SPACE;
        result = translate(s, args[1], out, &o, &raw);
    }
    if (result == 0)
        hits = matches(s, out, o, &raw);
    raw_hits_free(&raw);
    if (result != 0 || hits == NULL || _PyBytes_Resize(&joined, o) < 0) {
        Py_XDECREF(joined);
        Py_XDECREF(hits);
        if (result > 0)
            Py_RETURN_NONE;
        return NULL;
    }
    pair = PyTuple_Pack(2, joined, hits);
    Py_DECREF(joined);
    Py_DECREF(hits);
    return pair;
}

PyDoc_STRVAR(find_doc, "find(joined) -> hits\n\n"
                       "The hits of scan() in text already in the internal form (spaces around it).");

static PyObject *Scanner_find(Scanner *s, PyObject *arg)
{
    if (check_ready(s) < 0)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len > UINT32_MAX) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "text too large");
        return NULL;
    }
    const uint8_t *bytes = view.buf;
    RawHits raw;
    raw_hits_init(&raw);
    Py_ssize_t token_start = -1;
    uint64_t h = 0;
    int failed = 0;
    for (Py_ssize_t i = 0; !failed && i <= view.len; i++) {
        if (i < view.len && bytes[i] != SPACE) {
            if (token_start < 0)
                token_start = i;
            h = step(h, bytes[i]);
            continue;
        }
        if (token_start < 0)
            continue;
        /* A token at the very start or end has no space around it: scan() never makes one. */
        uint32_t tag = tag_of(h);
        Py_ssize_t id = filter_has(s, tag) ? find_slot(s, bytes + token_start, i - token_start, tag) : -1;
        if (id >= 0 && token_start > 0 && i < view.len)
            failed = raw_hits_add(&raw, token_start, i, id) < 0;
        token_start = -1;
        h = 0;
    }
    PyObject *hits = failed ? NULL : matches(s, bytes, view.len, &raw);
    raw_hits_free(&raw);
    PyBuffer_Release(&view);
    return hits;
}

/* A copy of a uint32 array argument, checked to hold `items` groups of `group` values. */
static uint32_t *copy_words(const Py_buffer *buffer, const char *what, Py_ssize_t group, Py_ssize_t *items)
{
    if (buffer->len % (Py_ssize_t)(group * sizeof(uint32_t)) != 0) {
        PyErr_Format(PyExc_ValueError, "%s must hold groups of %zd uint32 values", what, group);
        return NULL;
    }
    *items = buffer->len / (Py_ssize_t)(group * sizeof(uint32_t));
    uint32_t *copy = PyMem_RawMalloc(buffer->len ? (size_t)buffer->len : 1);
    if (copy == NULL)
        PyErr_NoMemory();
    else
        memcpy(copy, buffer->buf, (size_t)buffer->len);
    return copy;
}

static int bad(const char *what, Py_ssize_t index)
{
    PyErr_Format(PyExc_ValueError, "%s %zd is out of range", what, index);
    return -1;
}

/* The first out-of-range index in the copied name tables (what and where), or NULL; no Python API. */
static const char *first_bad_index(const Scanner *s, Py_ssize_t patterns, Py_ssize_t targets, Py_ssize_t names,
                                   Py_ssize_t tokens, uint64_t token_bytes, Py_ssize_t *index)
{
    for (*index = 0; *index < patterns; ++*index)
        if ((uint64_t)s->pattern_targets[2 * *index] + s->pattern_targets[2 * *index + 1] > (uint64_t)targets)
            return "pattern";
    for (*index = 0; *index < targets; ++*index)
        if (s->targets[2 * *index] >= names)
            return "target";
    for (*index = 0; *index < names; ++*index) {
        const Name *name = &s->names[*index];
        if (name->count == 0 || name->anchor >= name->count || name->rule > RULE_DEFINITE ||
            (uint64_t)name->first_token + name->count > (uint64_t)tokens)
            return "name";
    }
    for (*index = 0; *index < tokens; ++*index)
        if (s->token_spans[2 * *index + 1] == 0 ||
            (uint64_t)s->token_spans[2 * *index] + s->token_spans[2 * *index + 1] > token_bytes)
            return "token";
    return NULL;
}

/* Copies and checks the name tables, so that no index read while matching can leave its array. */
static int init_names(Scanner *s, Py_buffer *buffers)
{
    Py_ssize_t patterns = 0, targets = 0, names = 0, tokens = 0, stacks = 0;
    s->pattern_targets = copy_words(&buffers[0], "pattern_targets", 2, &patterns);
    s->targets = copy_words(&buffers[1], "targets", 2, &targets);
    s->names = (Name *)copy_words(&buffers[2], "names", 4, &names);
    s->token_spans = copy_words(&buffers[3], "token_spans", 2, &tokens);
    uint32_t *stack_pairs = copy_words(&buffers[5], "stacks", 2, &stacks);
    s->token_bytes = PyMem_RawMalloc(buffers[4].len ? (size_t)buffers[4].len : 1);
    if (!s->pattern_targets || !s->targets || !s->names || !s->token_spans || !stack_pairs || !s->token_bytes) {
        PyMem_RawFree(stack_pairs);
        return PyErr_Occurred() ? -1 : (PyErr_NoMemory(), -1);
    }
    memcpy(s->token_bytes, buffers[4].buf, (size_t)buffers[4].len);
    for (int i = 0; i < 5; i++)
        s->name_bytes += (size_t)buffers[i].len;
    int failed = 0;
    for (Py_ssize_t i = 0; !failed && i < stacks; i++) {
        uint32_t set = stack_pairs[2 * i];
        if (set >= STACK_SETS || s->stack_count[set] == MAX_STACKS)
            failed = bad("stack", i);
        else
            s->stacks[set][s->stack_count[set]++] = stack_pairs[2 * i + 1];
    }
    PyMem_RawFree(stack_pairs);
    if (failed)
        return -1;
    if (patterns != s->patterns)
        return bad("pattern_targets count", patterns);
    const char *what = NULL;
    Py_ssize_t index = 0;
    Py_BEGIN_ALLOW_THREADS /* pure C over the copies: the event loop's thread runs meanwhile */
    what = first_bad_index(s, patterns, targets, names, tokens, (uint64_t)buffers[4].len, &index);
    Py_END_ALLOW_THREADS
    return what == NULL ? 0 : bad(what, index);
}

typedef struct {
    const uint8_t *start;
    Py_ssize_t length;
} Key;

/* Copies the keys into s->keys and adds them to the filter and slots; no Python API (runs without
 * the GIL). Returns -1, or the index of a key repeating an earlier one (its id in *repeat). */
static Py_ssize_t insert_patterns(Scanner *s, const Key *keys, Py_ssize_t count, uint32_t *repeat)
{
    uint32_t offset = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t length = keys[i].length;
        memcpy(s->keys + offset, keys[i].start, (size_t)length);
        if (add_pattern(s, (const uint8_t *)s->keys + offset, length, offset, (uint32_t)i, repeat) < 0)
            return i;
        offset += (uint32_t)length;
        s->min_length = length < s->min_length ? length : s->min_length;
        s->max_length = length > s->max_length ? length : s->max_length;
    }
    return -1;
}

/* The whole-token pattern set: filter bits, open-addressing slots, key bytes. */
static int init_patterns(Scanner *s, PyObject *sequence)
{
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence), key_bytes = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pattern = PySequence_Fast_GET_ITEM(sequence, i);
        if (!PyBytes_Check(pattern) || PyBytes_GET_SIZE(pattern) == 0 ||
            memchr(PyBytes_AS_STRING(pattern), SPACE, (size_t)PyBytes_GET_SIZE(pattern)) != NULL)
            return bad("pattern (must be non-empty bytes without spaces)", i);
        key_bytes += PyBytes_GET_SIZE(pattern);
    }
    if (key_bytes > UINT32_MAX || count > UINT32_MAX)
        return bad("pattern bytes", key_bytes);
    /* About 16 filter bits per pattern: a token that matches nothing passes the filter ~6% of the time. */
    uint64_t filter_bits = power_of_two_at_least((uint64_t)count * 16 < 4096 ? 4096 : (uint64_t)count * 16);
    if (filter_bits > ((uint64_t)1 << 32))
        filter_bits = (uint64_t)1 << 32;
    uint64_t slots = power_of_two_at_least((uint64_t)count * 2 + 2);
    s->filter = PyMem_RawCalloc(filter_bits / 64, sizeof(uint64_t));
    s->slots = PyMem_RawCalloc(slots, sizeof(Slot));
    s->keys = PyMem_RawMalloc(key_bytes ? (size_t)key_bytes : 1);
    if (!s->filter || !s->slots || !s->keys) {
        PyErr_NoMemory();
        return -1;
    }
    s->filter_mask = (uint32_t)(filter_bits - 1);
    s->slot_mask = (uint32_t)(slots - 1);
    s->patterns = count;
    s->min_length = PY_SSIZE_T_MAX;
    s->max_length = 0;
    /* The bytes objects stay alive (the caller holds the sequence); only their buffers are read below. */
    Key *keys = PyMem_RawMalloc((size_t)(count ? count : 1) * sizeof(Key));
    if (keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pattern = PySequence_Fast_GET_ITEM(sequence, i);
        keys[i] = (Key){(const uint8_t *)PyBytes_AS_STRING(pattern), PyBytes_GET_SIZE(pattern)};
    }
    Py_ssize_t failed_at = -1;
    uint32_t repeat = 0;
    Py_BEGIN_ALLOW_THREADS /* hashing ~1M keys into the slots: pure C, the event loop runs meanwhile */
    failed_at = insert_patterns(s, keys, count, &repeat);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(keys);
    if (failed_at >= 0) {
        PyErr_Format(PyExc_ValueError, "pattern %zd repeats pattern %u", failed_at, repeat);
        return -1;
    }
    return 0;
}

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"table",       "patterns",    "pattern_targets", "targets", "names",
                               "token_spans", "token_bytes", "stacks",          NULL};
    Py_buffer table, buffers[6];
    PyObject *patterns;
    if (s->table != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner is already initialized");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*Oy*y*y*y*y*y*:Scanner", keywords, &table, &patterns,
                                     &buffers[0], &buffers[1], &buffers[2], &buffers[3], &buffers[4],
                                     &buffers[5]))
        return -1;
    int failed = -1;
    PyObject *sequence = PySequence_Fast(patterns, "patterns must be a sequence of bytes");
    if (sequence == NULL)
        goto done;
    if (table.len != TABLE_SIZE * (Py_ssize_t)sizeof(uint16_t)) {
        PyErr_Format(PyExc_ValueError, "table must be %d uint16 values, got %zd bytes", TABLE_SIZE, table.len);
        goto done;
    }
    if (init_patterns(s, sequence) < 0 || init_names(s, buffers) < 0)
        goto done;
    s->table = PyMem_RawMalloc(TABLE_SIZE * sizeof(uint16_t)); /* set last: it marks the scanner ready */
    if (s->table == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(s->table, table.buf, TABLE_SIZE * sizeof(uint16_t));
    failed = 0;
done:
    Py_XDECREF(sequence);
    PyBuffer_Release(&table);
    for (int i = 0; i < 6; i++)
        PyBuffer_Release(&buffers[i]);
    return failed;
}

static void Scanner_dealloc(Scanner *s)
{
    PyMem_RawFree(s->table);
    PyMem_RawFree(s->filter);
    PyMem_RawFree(s->slots);
    PyMem_RawFree(s->keys);
    PyMem_RawFree(s->pattern_targets);
    PyMem_RawFree(s->targets);
    PyMem_RawFree(s->names);
    PyMem_RawFree(s->token_spans);
    PyMem_RawFree(s->token_bytes);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_memory(Scanner *s, PyObject *Py_UNUSED(ignored))
{
    if (check_ready(s) < 0)
        return NULL;
    Py_ssize_t key_bytes = 0;
    for (uint64_t i = 0; i <= s->slot_mask; i++)
        key_bytes += s->slots[i].length;
    size_t total = TABLE_SIZE * sizeof(uint16_t) + ((size_t)s->filter_mask + 1) / 8 +
                   ((size_t)s->slot_mask + 1) * sizeof(Slot) + (size_t)key_bytes + s->name_bytes;
    return PyLong_FromSize_t(total);
}

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))Scanner_scan, METH_FASTCALL, scan_doc},
    {"find", (PyCFunction)Scanner_find, METH_O, find_doc},
    {"memory", (PyCFunction)Scanner_memory, METH_NOARGS, "Bytes held by the table, patterns and names."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "streams._scan.Scanner",
    .tp_doc = PyDoc_STR("Scanner(table, patterns): whole-token lookup over the internal form."),
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT, .m_name = "streams._scan",
    .m_doc = "The matcher's hot loop in C: internal form and whole-token lookup in one pass.", .m_size = -1,
};

PyMODINIT_FUNC PyInit__scan(void)
{
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&scan_module);
    if (module == NULL)
        return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(module, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
