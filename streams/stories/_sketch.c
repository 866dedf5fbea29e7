/* Story sketches in one pass: internal-form bytes -> token hashes -> word-shingle hashes ->
 * one-permutation MinHash signature (with rotation densification) -> LSH band hashes.
 *
 * streams/stories/reference.py is the same algorithm in plain Python (the specification, tested
 * equal on the labelled corpus); this file exists because that costs ~30x more per article and the
 * story step must stay a small part of the worker's time per article (docs/stories.md).
 * Every constant here is part of the signature format shared through Redis: change none.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define FNV_OFFSET 0xCBF29CE484222325ULL
#define FNV_PRIME 0x00000100000001B3ULL
#define SHINGLE_BASE 0x9E3779B97F4A7C15ULL
#define BORROW_STEP 0x9E3779B1U
#define MAX_SHINGLE 16
#define MAX_SLOTS 1024

static inline uint64_t mix(uint64_t h)
{
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

/* The separators of Python's bytes.split(): the internal form never uses them inside a token. */
static inline int is_separator(uint8_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

static void put_be32(uint8_t *out, uint32_t v)
{
    out[0] = (uint8_t)(v >> 24); out[1] = (uint8_t)(v >> 16); out[2] = (uint8_t)(v >> 8); out[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *in)
{
    return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];
}

/* sketch(internal, shingle, slots) -> (signature bytes, filled bins); b"" when no shingle at all. */
static PyObject *sketch(PyObject *self, PyObject *args)
{
    Py_buffer text;
    int shingle, slots;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*ii", &text, &shingle, &slots)) return NULL;
    if (shingle < 1 || shingle > MAX_SHINGLE || slots < 2 || slots > MAX_SLOTS || (slots & (slots - 1))) {
        PyBuffer_Release(&text);
        PyErr_SetString(PyExc_ValueError, "shingle must be 1..16 and slots a power of two in 2..1024");
        return NULL;
    }
    int bits = 0;
    while ((1 << bits) < slots) bits++;
    uint32_t minimum[MAX_SLOTS];
    uint8_t filled[MAX_SLOTS];
    memset(filled, 0, sizeof filled);
    /* The shingle hash sum(w[i+j] * BASE^(k-1-j)) slides in O(1): drop the oldest word, shift, add. */
    uint64_t window[MAX_SHINGLE], top = 1, h = 0;
    for (int j = 1; j < shingle; j++) top *= SHINGLE_BASE;
    Py_ssize_t tokens = 0;
    int oldest = 0;
    const uint8_t *p = text.buf, *end = p + text.len;
    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        while (p < end && is_separator(*p)) p++;
        if (p == end) break;
        uint64_t t = FNV_OFFSET;
        while (p < end && !is_separator(*p)) t = (t ^ *p++) * FNV_PRIME;
        if (tokens >= shingle) h -= window[oldest] * top;
        h = h * SHINGLE_BASE + t;
        window[oldest] = t;
        if (++oldest == shingle) oldest = 0;
        if (++tokens < shingle) continue;
        uint64_t m = mix(h);
        uint32_t bin = bits ? (uint32_t)(m >> (64 - bits)) : 0, value = (uint32_t)m;
        if (!filled[bin] || value < minimum[bin]) { minimum[bin] = value; filled[bin] = 1; }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&text);
    int count = 0;
    for (int i = 0; i < slots; i++) count += filled[i];
    if (count == 0) return Py_BuildValue("(y#i)", "", (Py_ssize_t)0, 0);
    PyObject *signature = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)slots * 4);
    if (!signature) return NULL;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(signature);
    for (int i = 0; i < slots; i++) {
        int step = 0;
        while (!filled[(i + step) % slots]) step++;
        put_be32(out + 4 * i, minimum[(i + step) % slots] + (uint32_t)step * BORROW_STEP);
    }
    return Py_BuildValue("(Ni)", signature, count);
}

/* bands(signature, rows, bands) -> bands * 9 bytes: per band its number (one byte) and its rows hashed
 * to 64 bits (big-endian): the band's index key. */
static PyObject *bands(PyObject *self, PyObject *args)
{
    Py_buffer sig;
    int rows, count;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*ii", &sig, &rows, &count)) return NULL;
    if (rows < 1 || count < 1 || count > 256 || (Py_ssize_t)rows * count * 4 > sig.len) {
        PyBuffer_Release(&sig);
        PyErr_SetString(PyExc_ValueError, "bands (at most 256) * rows must fit in the signature");
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)count * 9);
    if (result) {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
        const uint8_t *in = sig.buf;
        for (int b = 0; b < count; b++) {
            uint64_t h = 0;
            for (int r = 0; r < rows; r++) h = mix(h * SHINGLE_BASE + get_be32(in + 4 * (b * rows + r)));
            out[9 * b] = (uint8_t)b;
            put_be32(out + 9 * b + 1, (uint32_t)(h >> 32));
            put_be32(out + 9 * b + 5, (uint32_t)h);
        }
    }
    PyBuffer_Release(&sig);
    return result;
}

/* agreeing(a, b) -> the number of signature slots where a and b hold the same value. */
static PyObject *agreeing(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*", &a, &b)) return NULL;
    Py_ssize_t n = a.len < b.len ? a.len : b.len, same = 0;
    const uint8_t *x = a.buf, *y = b.buf;
    for (Py_ssize_t i = 0; i + 4 <= n; i += 4) same += memcmp(x + i, y + i, 4) == 0;
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return PyLong_FromSsize_t(same);
}

static PyMethodDef methods[] = {
    {"sketch", sketch, METH_VARARGS, "sketch(internal, shingle, slots) -> (signature, filled bins)"},
    {"bands", bands, METH_VARARGS, "bands(signature, rows, bands) -> band keys, 9 bytes each"},
    {"agreeing", agreeing, METH_VARARGS, "agreeing(a, b) -> number of equal signature slots"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sketch_module = {
    PyModuleDef_HEAD_INIT, .m_name = "streams.stories._sketch",
    .m_doc = "Story sketches: shingles, one-permutation MinHash, LSH bands (see streams/stories).",
    .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__sketch(void) { return PyModule_Create(&sketch_module); }
