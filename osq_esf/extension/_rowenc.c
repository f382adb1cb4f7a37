/* _rowenc: a chunk of event-table rows as thrift binary list<map<string,string>> elements.
 *
 * The compiled twin of EventTable._encode_rows (osq_esf/tables.py), which stays the
 * fallback and defines the bytes.  One call encodes a whole chunk into one bytes object:
 *
 *   encode_rows(n, procs, columns[, out]) -> bytes, or the length written into ``out``
 *
 *   out      optional bytearray to write into from its start (grown when too small, never
 *            shrunk): a reply path that reuses one buffer per call slot touches no fresh
 *            pages per chunk (a new multi-MB bytes object costs page faults every time).
 *
 *   n        number of rows
 *   procs    None, or a sequence of n (count, blob) pairs: ProcessContext.encoded, the
 *            process columns already encoded as `count` key/value pairs
 *   columns  sequence of (key, kind, data), written in this order after the blob:
 *              key   the column name as a thrift string (4-byte length + UTF-8)
 *              kind  KIND_INT: data is array('q') (or any 8-byte integer buffer, or a
 *                    sequence of int); NULL_INT (-2**63) is NULL and is sent as "" (a
 *                    numeric NULL: osquery reads "" as NULL), anything else as decimal text
 *                    KIND_TEXT: data is a sequence; None is NULL and leaves the key out of
 *                    the row's map; str is UTF-8 (surrogateescape), bool 1/0, int decimal,
 *                    anything else str(v) (float repr)
 *
 * Each row is a map header (key type, value type, i32 count) followed by its pairs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define KIND_INT 0
#define KIND_TEXT 1
#define T_STRING 11

typedef struct {
    const char *key;
    Py_ssize_t key_len;
    int kind;
    PyObject *fast;       /* KIND_TEXT, or KIND_INT given as a sequence: PySequence_Fast */
    Py_buffer view;       /* KIND_INT given as a buffer */
    int has_view;
} Column;

typedef struct {
    PyObject *bytes;      /* a bytes object we own, or the caller's bytearray (borrowed) */
    char *p;
    Py_ssize_t len, cap;
    int is_array;
} Out;

static int out_reserve(Out *o, Py_ssize_t more) {
    if (o->len + more <= o->cap)
        return 0;
    Py_ssize_t cap = o->cap * 2;
    if (cap < o->len + more)
        cap = o->len + more;
    if (o->is_array) {
        if (PyByteArray_Resize(o->bytes, cap) < 0)
            return -1;
        o->p = PyByteArray_AS_STRING(o->bytes);
    } else {
        if (_PyBytes_Resize(&o->bytes, cap) < 0)
            return -1;
        o->p = PyBytes_AS_STRING(o->bytes);
    }
    o->cap = cap;
    return 0;
}

static inline void put_i32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24); p[1] = (char)(v >> 16); p[2] = (char)(v >> 8); p[3] = (char)v;
}

/* Decimal text of v written at the end of buf[24]; returns the start. */
static inline char *decimal(char *end, int64_t v) {
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return p;
}

static int put_pair(Out *o, const Column *c, const char *val, Py_ssize_t n) {
    if (n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value longer than a thrift string");
        return -1;
    }
    if (out_reserve(o, c->key_len + 4 + n) < 0)
        return -1;
    char *p = o->p + o->len;
    memcpy(p, c->key, c->key_len);
    p += c->key_len;
    put_i32(p, (uint32_t)n);
    if (n)
        memcpy(p + 4, val, n);
    o->len += c->key_len + 4 + n;
    return 0;
}

static int put_int(Out *o, const Column *c, int64_t v) {
    char buf[24];
    if (v == INT64_MIN)  /* NULL_INT */
        return put_pair(o, c, "", 0);
    char *s = decimal(buf + sizeof buf, v);
    return put_pair(o, c, s, buf + sizeof buf - s);
}

/* Writes the pair for a text cell; returns 1 if written, 0 if NULL (left out), -1 on error. */
static int put_text(Out *o, const Column *c, PyObject *v) {
    if (v == Py_None)
        return 0;
    if (PyUnicode_CheckExact(v) && PyUnicode_IS_ASCII(v))
        return put_pair(o, c, (const char *)PyUnicode_DATA(v), PyUnicode_GET_LENGTH(v)) < 0 ? -1 : 1;
    if (PyBool_Check(v))
        return put_pair(o, c, v == Py_True ? "1" : "0", 1) < 0 ? -1 : 1;
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (!overflow && !(x == -1 && PyErr_Occurred())) {
            char buf[24];
            char *s = decimal(buf + sizeof buf, x);
            return put_pair(o, c, s, buf + sizeof buf - s) < 0 ? -1 : 1;
        }
        PyErr_Clear();
    }
    PyObject *b;
    if (PyUnicode_Check(v)) {
        b = PyUnicode_AsEncodedString(v, "utf-8", "surrogateescape");
    } else {
        /* int subclasses render as their integer value, like "%d" % v */
        PyObject *s = PyLong_Check(v) ? PyNumber_Long(v) : NULL;
        PyObject *t = PyObject_Str(s ? s : v);
        Py_XDECREF(s);
        if (t == NULL)
            return -1;
        b = PyUnicode_AsEncodedString(t, "utf-8", "surrogateescape");
        Py_DECREF(t);
    }
    if (b == NULL)
        return -1;
    int r = put_pair(o, c, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return r < 0 ? -1 : 1;
}

static void release(Column *cols, Py_ssize_t k) {
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_XDECREF(cols[j].fast);
        if (cols[j].has_view)
            PyBuffer_Release(&cols[j].view);
    }
    PyMem_Free(cols);
}

static int open_column(Column *c, PyObject *desc, Py_ssize_t n) {
    PyObject *key, *data;
    if (!PyTuple_Check(desc) || !PyArg_ParseTuple(desc, "SiO", &key, &c->kind, &data)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a column is a (key: bytes, kind: int, data) tuple");
        return -1;
    }
    c->key = PyBytes_AS_STRING(key);  /* kept alive by the columns sequence */
    c->key_len = PyBytes_GET_SIZE(key);
    Py_ssize_t have;
    if (c->kind == KIND_INT && PyObject_CheckBuffer(data)) {
        if (PyObject_GetBuffer(data, &c->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        c->has_view = 1;
        const char *f = c->view.format ? c->view.format : "B";
        if (c->view.itemsize != 8 || !(strcmp(f, "q") == 0 || strcmp(f, "l") == 0 || strcmp(f, "=q") == 0)) {
            PyErr_SetString(PyExc_TypeError, "an integer column buffer must hold signed 64-bit integers");
            return -1;
        }
        have = c->view.len / 8;
    } else if (c->kind == KIND_INT || c->kind == KIND_TEXT) {
        c->fast = PySequence_Fast(data, "column data must be a sequence");
        if (c->fast == NULL)
            return -1;
        have = PySequence_Fast_GET_SIZE(c->fast);
    } else {
        PyErr_Format(PyExc_ValueError, "unknown column kind %d", c->kind);
        return -1;
    }
    if (have < n) {
        PyErr_Format(PyExc_ValueError, "a column has %zd values for %zd rows", have, n);
        return -1;
    }
    return 0;
}

static PyObject *encode_rows(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *procs, *columns, *target = Py_None;
    if (!PyArg_ParseTuple(args, "nOO|O", &n, &procs, &columns, &target))
        return NULL;
    if (target != Py_None && !PyByteArray_CheckExact(target))
        return PyErr_Format(PyExc_TypeError, "out must be a bytearray or None");
    if (n < 0)
        return PyErr_Format(PyExc_ValueError, "negative row count");
    PyObject *procs_fast = NULL;
    if (procs != Py_None) {
        procs_fast = PySequence_Fast(procs, "procs must be a sequence or None");
        if (procs_fast == NULL)
            return NULL;
        if (PySequence_Fast_GET_SIZE(procs_fast) < n) {
            Py_DECREF(procs_fast);
            return PyErr_Format(PyExc_ValueError, "fewer process blobs than rows");
        }
    }
    PyObject *cols_fast = PySequence_Fast(columns, "columns must be a sequence");
    if (cols_fast == NULL) {
        Py_XDECREF(procs_fast);
        return NULL;
    }
    Py_ssize_t k = PySequence_Fast_GET_SIZE(cols_fast);
    Column *cols = PyMem_Calloc(k ? k : 1, sizeof(Column));
    Out o = {NULL, NULL, 0, 0, target != Py_None};
    if (cols == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t j = 0; j < k; j++)
        if (open_column(&cols[j], PySequence_Fast_GET_ITEM(cols_fast, j), n) < 0)
            goto fail;
    o.cap = 64 + n * (6 + 24 * k + (procs_fast ? 512 : 0));
    if (o.is_array) {
        o.bytes = target;
        if (PyByteArray_GET_SIZE(target) >= o.cap)
            o.cap = PyByteArray_GET_SIZE(target);
        else if (PyByteArray_Resize(target, o.cap) < 0)
            goto fail;
        o.p = PyByteArray_AS_STRING(target);
    } else {
        o.bytes = PyBytes_FromStringAndSize(NULL, o.cap);
        if (o.bytes == NULL)
            goto fail;
        o.p = PyBytes_AS_STRING(o.bytes);
    }

    for (Py_ssize_t i = 0; i < n; i++) {
        if (out_reserve(&o, 6) < 0)
            goto fail;
        Py_ssize_t head = o.len;
        o.p[head] = T_STRING;
        o.p[head + 1] = T_STRING;
        o.len += 6;
        long long count = 0;
        if (procs_fast) {
            PyObject *pair = PySequence_Fast_GET_ITEM(procs_fast, i);
            PyObject *cnt, *blob;
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
                !PyLong_Check(cnt = PyTuple_GET_ITEM(pair, 0)) || !PyBytes_Check(blob = PyTuple_GET_ITEM(pair, 1))) {
                PyErr_SetString(PyExc_TypeError, "a process entry is a (count: int, blob: bytes) tuple");
                goto fail;
            }
            count = PyLong_AsLongLong(cnt);
            if (count == -1 && PyErr_Occurred())
                goto fail;
            Py_ssize_t bl = PyBytes_GET_SIZE(blob);
            if (out_reserve(&o, bl) < 0)
                goto fail;
            memcpy(o.p + o.len, PyBytes_AS_STRING(blob), bl);
            o.len += bl;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            Column *c = &cols[j];
            if (c->kind == KIND_INT) {
                int64_t v;
                if (c->has_view) {
                    memcpy(&v, (const char *)c->view.buf + 8 * i, 8);
                } else {
                    long long x = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(c->fast, i));
                    if (x == -1 && PyErr_Occurred())
                        goto fail;
                    v = x;
                }
                if (put_int(&o, c, v) < 0)
                    goto fail;
                count++;
            } else {
                int r = put_text(&o, c, PySequence_Fast_GET_ITEM(c->fast, i));
                if (r < 0)
                    goto fail;
                count += r;
            }
        }
        if (count > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "too many pairs in a row");
            goto fail;
        }
        put_i32(o.p + head + 2, (uint32_t)count);
    }
    release(cols, k);
    Py_DECREF(cols_fast);
    Py_XDECREF(procs_fast);
    if (o.is_array)
        return PyLong_FromSsize_t(o.len);
    if (_PyBytes_Resize(&o.bytes, o.len) < 0)
        return NULL;
    return o.bytes;

fail:
    if (!o.is_array)
        Py_XDECREF(o.bytes);
    if (cols)
        release(cols, k);
    Py_DECREF(cols_fast);
    Py_XDECREF(procs_fast);
    return NULL;
}

static PyMethodDef methods[] = {
    {"encode_rows", encode_rows, METH_VARARGS,
     "encode_rows(n, procs, columns[, out]) -> bytes (or the length written into the bytearray out): "
     "n rows as thrift maps (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rowenc",
    "Compiled row encoder for event tables; osq_esf.tables holds the Python fallback.", -1, methods,
};

PyMODINIT_FUNC PyInit__rowenc(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "KIND_INT", KIND_INT) < 0 || PyModule_AddIntConstant(m, "KIND_TEXT", KIND_TEXT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
