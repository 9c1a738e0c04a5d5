/* ringfetch._engine: the CPython 3.11 binding of the engine (engine/ringfetch.h).
 *
 * One Engine object owns one rf_engine. The engine's ring accepts work from
 * the thread that made it only, so every method but wake() checks the
 * calling thread. run() releases the GIL while the ring waits and returns the
 * finished results as plain tuples; ringfetch/_client.py and _async.py turn
 * them into Response objects. Signals: CPython's handler only sets a flag, the wait
 * ends with EINTR (or at the slice's end), and run() checks the flag with
 * the GIL held, so Ctrl-C raises KeyboardInterrupt in the caller. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include "engine/ringfetch.h"

typedef struct {
  PyObject_HEAD
  rf_engine *e;
  pthread_t owner;
} EngineObject;

/* ---- configuration ---------------------------------------------------------- */

/* Keeps the strings the config points at alive until rf_engine_new copied them. */
typedef struct {
  rf_config cfg;
  const char **resolve;
} cfg_build;

static int opt_uint(PyObject *kw, const char *name, unsigned *out) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  if (!v || v == Py_None)
    return 0;
  unsigned long x = PyLong_AsUnsignedLong(v);
  if (PyErr_Occurred())
    return -1;
  if (x > UINT_MAX) { /* the field is an unsigned: never wrap around */
    PyErr_Format(PyExc_ValueError, "%s=%lu is out of range (at most %u)", name, x, UINT_MAX);
    return -1;
  }
  *out = (unsigned)x;
  return 0;
}

/* A signed field (ip_version): the engine checks the value (rf_engine_new). */
static int opt_int(PyObject *kw, const char *name, int *out) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  if (!v || v == Py_None)
    return 0;
  int overflow = 0;
  long x = PyLong_AsLongAndOverflow(v, &overflow);
  if (x == -1 && PyErr_Occurred())
    return -1;
  if (overflow || x < INT_MIN || x > INT_MAX) {
    PyErr_Format(PyExc_ValueError, "%s is out of range", name);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int opt_str(PyObject *kw, const char *name, const char **out) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  if (!v || v == Py_None)
    return 0;
  *out = PyUnicode_AsUTF8(v);
  return *out ? 0 : -1;
}

static int opt_bool(PyObject *kw, const char *name, bool *out) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  if (!v || v == Py_None)
    return 0;
  int t = PyObject_IsTrue(v);
  if (t < 0)
    return -1;
  *out = t;
  return 0;
}

/* resolve: a list of curl-style "host:port:addr" strings. */
static int opt_resolve(PyObject *kw, cfg_build *b) {
  PyObject *v = kw ? PyDict_GetItemString(kw, "resolve") : NULL;
  if (!v || v == Py_None)
    return 0;
  if (!PyList_Check(v)) {
    PyErr_SetString(PyExc_TypeError, "resolve must be a list of 'host:port:addr' strings");
    return -1;
  }
  Py_ssize_t n = PyList_GET_SIZE(v);
  b->resolve = PyMem_Calloc((size_t)n + 1, sizeof *b->resolve);
  if (!b->resolve) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++)
    if (!(b->resolve[i] = PyUnicode_AsUTF8(PyList_GET_ITEM(v, i))))
      return -1;
  b->cfg.resolve = b->resolve;
  b->cfg.n_resolve = (size_t)n;
  return 0;
}

static int opt_double(PyObject *kw, const char *name, double *out) {
  PyObject *v = kw ? PyDict_GetItemString(kw, name) : NULL;
  if (!v || v == Py_None)
    return 0;
  *out = PyFloat_AsDouble(v);
  return PyErr_Occurred() ? -1 : 0;
}

static int build_config(PyObject *kw, cfg_build *b) {
  rf_config *c = &b->cfg;
  rf_config_init(c);
  if (opt_uint(kw, "concurrency", &c->concurrency) || opt_uint(kw, "per_host", &c->per_host) ||
      opt_uint(kw, "connect_timeout_ms", &c->connect_timeout_ms) ||
      opt_uint(kw, "read_timeout_ms", &c->read_timeout_ms) ||
      opt_uint(kw, "max_time_ms", &c->max_time_ms) || opt_uint(kw, "retries", &c->retries) ||
      opt_uint(kw, "retry_delay_ms", &c->retry_delay_ms) ||
      opt_uint(kw, "queue_size", &c->queue_size) ||
      opt_bool(kw, "retry_all_methods", &c->retry_all_methods) ||
      opt_double(kw, "host_rate", &c->host_rate) || opt_bool(kw, "robots", &c->robots) ||
      opt_str(kw, "robots_agent", &c->robots_agent) ||
      opt_bool(kw, "insecure", &c->insecure) || opt_str(kw, "ca_file", &c->ca_file) ||
      opt_bool(kw, "http2", &c->http2) ||
      opt_str(kw, "ca_dir", &c->ca_dir) || opt_str(kw, "user_agent", &c->user_agent) ||
      opt_str(kw, "dns_servers", &c->dns_servers) || opt_str(kw, "proxy", &c->proxy) ||
      opt_str(kw, "no_proxy", &c->no_proxy) ||
      opt_str(kw, "hosts_file", &c->hosts_file) || opt_resolve(kw, b) ||
      opt_uint(kw, "pipeline", &c->pipeline) || opt_uint(kw, "batch_us", &c->batch_us) ||
      opt_uint(kw, "idle_per_host", &c->idle_per_host) ||
      opt_uint(kw, "idle_timeout_ms", &c->idle_timeout_ms) ||
      opt_bool(kw, "strict_http", &c->strict_http) ||
      opt_bool(kw, "http2_prior_knowledge", &c->http2_prior_knowledge) ||
      opt_uint(kw, "http2_streams", &c->http2_streams) ||
      opt_bool(kw, "no_tls_warmup", &c->no_tls_warmup) ||
      opt_uint(kw, "dns_timeout_ms", &c->dns_timeout_ms) ||
      opt_int(kw, "ip_version", &c->ip_version) ||
      opt_uint(kw, "happy_eyeballs_ms", &c->happy_eyeballs_ms) ||
      opt_uint(kw, "retry_max_delay_ms", &c->retry_max_delay_ms) ||
      opt_uint(kw, "retry_max_time_ms", &c->retry_max_time_ms) ||
      opt_uint(kw, "max_ratio", &c->max_ratio) || opt_uint(kw, "max_idle", &c->max_idle))
    return -1;
  /* Python users hold bodies in memory (as requests does): no cap below
   * max_body_bytes, else 2 GiB */
  c->memory_body_max = (uint64_t)1 << 31;
  PyObject *v = kw ? PyDict_GetItemString(kw, "max_body_bytes") : NULL;
  if (v && v != Py_None) {
    c->max_body_bytes = c->memory_body_max = PyLong_AsUnsignedLongLong(v);
    if (PyErr_Occurred())
      return -1;
  }
  return 0;
}

static int check_owner(EngineObject *self) {
  if (!self->e) {
    PyErr_SetString(PyExc_RuntimeError, "the engine is closed");
    return -1;
  }
  if (!pthread_equal(self->owner, pthread_self())) {
    PyErr_SetString(PyExc_RuntimeError,
                    "a ringfetch engine belongs to the thread that made it "
                    "(make one Client per thread)");
    return -1;
  }
  return 0;
}

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kw) {
  if (PyTuple_GET_SIZE(args) != 0) {
    PyErr_SetString(PyExc_TypeError, "Engine() takes keyword arguments only");
    return -1;
  }
  cfg_build b = {0};
  char err[256] = "";
  int rc = -1;
  if (build_config(kw, &b) == 0) {
    rf_engine *e = NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = rf_engine_new(&b.cfg, &e, err, sizeof err);
    Py_END_ALLOW_THREADS
    if (r < 0) {
      PyErr_Format(PyExc_OSError, "ringfetch: %s (%s)", err[0] ? err : "engine setup failed",
                   strerror(-r));
    } else {
      rf_engine_free(self->e);
      self->e = e;
      self->owner = pthread_self();
      rc = 0;
    }
  }
  PyMem_Free(b.resolve);
  return rc;
}

static void Engine_dealloc(EngineObject *self) {
  /* the ring refuses other threads: a stray engine collected elsewhere
   * (a generator dropped in another thread) is still freed; its sockets close */
  rf_engine_free(self->e);
  self->e = NULL;
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- submitting ---------------------------------------------------------------- */

/* One header as Latin-1 bytes (as http.client sends them), kept alive in refs. */
static int latin1_ref(PyObject *str, PyObject *refs, const char **p, size_t *n) {
  PyObject *b = PyUnicode_AsLatin1String(str);
  if (!b || PyList_Append(refs, b) < 0) {
    Py_XDECREF(b);
    return -1;
  }
  Py_DECREF(b); /* refs holds it */
  *p = PyBytes_AS_STRING(b);
  *n = (size_t)PyBytes_GET_SIZE(b);
  return 0;
}

/* headers: a list of (name, value) str pairs. */
static int fill_headers(PyObject *list, rf_header **out, PyObject **keep) {
  Py_ssize_t n = PyList_GET_SIZE(list);
  rf_header *h = PyMem_Calloc((size_t)n + 1, sizeof *h);
  PyObject *refs = PyList_New(0);
  if (!h || !refs) {
    PyMem_Free(h);
    Py_XDECREF(refs);
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *pair = PyList_GET_ITEM(list, i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(pair, 1))) {
      PyErr_SetString(PyExc_TypeError, "headers must be (str, str) pairs");
      goto fail;
    }
    if (latin1_ref(PyTuple_GET_ITEM(pair, 0), refs, &h[i].name, &h[i].name_len) < 0 ||
        latin1_ref(PyTuple_GET_ITEM(pair, 1), refs, &h[i].value, &h[i].value_len) < 0)
      goto fail;
  }
  *out = h;
  *keep = refs;
  return 0;
fail:
  PyMem_Free(h);
  Py_DECREF(refs);
  return -1;
}

/* submit(tag, url bytes, method, headers, body, flags, max_redirects) -> bool
 * False when the engine's queue is full (run it, then try again). */
static PyObject *Engine_submit(EngineObject *self, PyObject *args) {
  unsigned long long tag;
  const char *url, *method;
  Py_ssize_t url_len;
  PyObject *headers;
  Py_buffer body = {0};
  unsigned flags, max_redirects;
  if (!PyArg_ParseTuple(args, "Ky#zO!z*II", &tag, &url, &url_len, &method, &PyList_Type,
                        &headers, &body, &flags, &max_redirects))
    return NULL;
  PyObject *ret = NULL, *keep = NULL;
  rf_header *h = NULL;
  if (check_owner(self) < 0 || fill_headers(headers, &h, &keep) < 0)
    goto out;
  rf_request rq;
  rf_request_init(&rq);
  rq.tag = tag;
  rq.url = url;
  rq.url_len = (size_t)url_len;
  rq.method = method;
  rq.headers = h;
  rq.n_headers = (size_t)PyList_GET_SIZE(headers);
  rq.body = body.buf;
  rq.body_len = body.buf ? (size_t)body.len : 0;
  rq.flags = flags;
  rq.max_redirects = max_redirects;
  int rc = rf_submit(self->e, &rq);
  if (rc == -EAGAIN)
    ret = Py_NewRef(Py_False);
  else if (rc < 0)
    PyErr_Format(PyExc_OSError, "ringfetch: submit failed (%s)", strerror(-rc));
  else
    ret = Py_NewRef(Py_True);
out:
  PyMem_Free(h);
  Py_XDECREF(keep);
  if (body.obj)
    PyBuffer_Release(&body);
  return ret;
}

/* ---- results --------------------------------------------------------------------- */

static PyObject *latin1(const char *p, size_t n) {
  return PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL);
}

/* Engine text that is not ours to trust as UTF-8 (a message may quote a
 * server's bytes): undecodable bytes become U+FFFD, never an exception that
 * would lose a batch of results. */
static PyObject *text(const char *p) {
  return PyUnicode_DecodeUTF8(p, (Py_ssize_t)strlen(p), "replace");
}

/* URLs go in as UTF-8 (with surrogateescape for bytes that are not) and
 * come back the same way, so Response.url is what the caller gave. */
static PyObject *url_str(const char *p, size_t n) {
  return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "surrogateescape");
}

static PyObject *header_list(const rf_header *h, size_t n) {
  PyObject *list = PyList_New((Py_ssize_t)n);
  if (!list)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    PyObject *t = Py_BuildValue("(NN)", latin1(h[i].name, h[i].name_len),
                                latin1(h[i].value, h[i].value_len));
    if (!t) {
      Py_DECREF(list);
      return NULL;
    }
    PyList_SET_ITEM(list, (Py_ssize_t)i, t);
  }
  return list;
}

static PyObject *redirect_list(const rf_result *r) {
  PyObject *list = PyList_New((Py_ssize_t)r->n_redirects);
  for (size_t i = 0; list && i < r->n_redirects; i++) {
    const rf_redirect *d = &r->redirects[i];
    PyObject *t = Py_BuildValue("(iN)", d->status, url_str(d->location, d->location_len));
    if (!t) {
      Py_CLEAR(list);
      break;
    }
    PyList_SET_ITEM(list, (Py_ssize_t)i, t);
  }
  return list;
}

static double secs(uint64_t us) { return (double)us / 1e6; }

/* (tag, url, final_url, status, reason, headers, body, error, error_message,
 *  (dns, connect, tls, ttfb, total), reused, tls_resumed, attempts, redirects,
 *  http version as 10 * major + minor (11, 20; 0 unknown), remote_addr, sha256)
 *  -- ringfetch/_models.py reads this order. */
static PyObject *result_tuple(const rf_result *r) {
  PyObject *body = r->body ? PyBytes_FromStringAndSize(r->body, (Py_ssize_t)r->body_len)
                           : PyBytes_FromStringAndSize("", 0);
  PyObject *err = r->error == RF_OK ? Py_NewRef(Py_None)
                                    : PyUnicode_FromString(rf_error_name(r->error));
  PyObject *sha = r->has_sha256 ? PyBytes_FromStringAndSize((const char *)r->body_sha256, 32)
                                : Py_NewRef(Py_None);
  const rf_timings *t = &r->timings;
  return Py_BuildValue("(KNNiNNNNN(ddddd)OOINiNN)", (unsigned long long)r->tag,
                       url_str(r->url, r->url_len), url_str(r->final_url, r->final_url_len),
                       r->status, latin1(r->reason, r->reason_len),
                       header_list(r->headers, r->n_headers), body, err, text(r->error_message),
                       secs(t->dns), secs(t->connect), secs(t->tls), secs(t->ttfb),
                       secs(t->total), r->reused ? Py_True : Py_False,
                       r->tls_resumed ? Py_True : Py_False, r->attempts, redirect_list(r),
                       r->http_major * 10 + r->http_minor, text(r->remote_addr), sha);
}

/* Moves every finished result into a new list (their slots are given back). */
static PyObject *collect(rf_engine *e) {
  PyObject *list = PyList_New(0);
  rf_result *r;
  while (list && (r = rf_result_next(e)) != NULL) {
    PyObject *t = result_tuple(r);
    rf_result_release(e, r);
    if (!t || PyList_Append(list, t) < 0)
      Py_CLEAR(list);
    Py_XDECREF(t);
  }
  return list;
}

/* run(timeout_ms) -> list of result tuples. The GIL is released while the
 * ring waits; the wait is cut in slices of at most 100 ms so pending signals
 * are acted on (KeyboardInterrupt) even if no EINTR reached this thread.
 * timeout_ms < 0 waits until a result is ready (or the engine is idle). */
static PyObject *Engine_run(EngineObject *self, PyObject *arg) {
  long timeout = PyLong_AsLong(arg);
  if ((timeout == -1 && PyErr_Occurred()) || check_owner(self) < 0)
    return NULL;
  rf_engine *e = self->e;
  for (;;) {
    int slice = timeout < 0 || timeout > 100 ? 100 : (int)timeout;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rf_run(e, slice);
    Py_END_ALLOW_THREADS
    if (rc < 0)
      return PyErr_Format(PyExc_OSError, "ringfetch: the ring failed (%s)", strerror(-rc));
    if (PyErr_CheckSignals() < 0)
      return NULL;
    if (timeout >= 0)
      timeout = timeout > slice ? timeout - slice : 0;
    if (rc > 0 || timeout == 0 || rf_outstanding(e) == 0)
      break;
  }
  return collect(e);
}

/* wait(): blocks until a result is ready or wake() is called, then returns
 * them (for the AsyncClient's engine thread; no slicing, no signal checks:
 * that thread never gets signals). */
static PyObject *Engine_wait(EngineObject *self, PyObject *unused) {
  if (check_owner(self) < 0)
    return NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = rf_run(self->e, -1);
  Py_END_ALLOW_THREADS
  if (rc < 0)
    return PyErr_Format(PyExc_OSError, "ringfetch: the ring failed (%s)", strerror(-rc));
  return collect(self->e);
}

/* ---- the rest ------------------------------------------------------------------------ */

static PyObject *Engine_wake(EngineObject *self, PyObject *unused) {
  if (self->e)
    rf_wake(self->e); /* any thread: writes an eventfd */
  Py_RETURN_NONE;
}

static PyObject *Engine_outstanding(EngineObject *self, PyObject *unused) {
  if (check_owner(self) < 0)
    return NULL;
  return PyLong_FromSize_t(rf_outstanding(self->e));
}

static PyObject *Engine_cancel_all(EngineObject *self, PyObject *unused) {
  if (check_owner(self) < 0)
    return NULL;
  return PyLong_FromSize_t(rf_cancel_all(self->e));
}

static PyObject *Engine_close(EngineObject *self, PyObject *unused) {
  if (self->e && check_owner(self) < 0)
    return NULL;
  rf_engine *e = self->e;
  self->e = NULL;
  Py_BEGIN_ALLOW_THREADS
  rf_engine_free(e);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

static int put_u64(PyObject *d, const char *k, uint64_t v) {
  PyObject *o = PyLong_FromUnsignedLongLong(v);
  int rc = o ? PyDict_SetItemString(d, k, o) : -1;
  Py_XDECREF(o);
  return rc;
}

static PyObject *Engine_stats(EngineObject *self, PyObject *unused) {
  if (check_owner(self) < 0)
    return NULL;
  rf_stats st;
  rf_get_stats(self->e, &st);
  PyObject *d = PyDict_New();
  const struct {
    const char *k;
    uint64_t v;
  } f[] = {{"submitted", st.submitted}, {"completed", st.completed}, {"failed", st.failed},
           {"conns_opened", st.conns_opened}, {"conns_reused", st.conns_reused},
           {"tls_handshakes", st.tls_handshakes}, {"tls_resumed", st.tls_resumed},
           {"bytes_in", st.bytes_in}, {"bytes_out", st.bytes_out},
           {"inflight", st.inflight}, {"peak_inflight", st.peak_inflight},
           {"open_conns", st.open_conns}, {"peak_open_conns", st.peak_open_conns},
           {"inflight_area_us", st.inflight_area_us}, {"busy_us", st.busy_us},
           {"queued_area_us", st.queued_area_us}, {"active_area_us", st.active_area_us},
           {"peak_active", st.peak_active}, {"retries", st.retries},
           {"redirects", st.redirects}, {"idle", st.idle},
           {"batched_waits", st.batched_waits}, {"clock_us", rf_clock_us(self->e)}};
  for (size_t i = 0; d && i < sizeof f / sizeof f[0]; i++)
    if (put_u64(d, f[i].k, f[i].v) < 0)
      Py_CLEAR(d);
  return d;
}

static PyMethodDef Engine_methods[] = {
    {"submit", (PyCFunction)Engine_submit, METH_VARARGS, "queue one request"},
    {"run", (PyCFunction)Engine_run, METH_O, "drive I/O, return finished results"},
    {"wait", (PyCFunction)Engine_wait, METH_NOARGS, "wait for results or a wake()"},
    {"wake", (PyCFunction)Engine_wake, METH_NOARGS, "end the current wait (any thread)"},
    {"outstanding", (PyCFunction)Engine_outstanding, METH_NOARGS, "requests not yet returned"},
    {"cancel_all", (PyCFunction)Engine_cancel_all, METH_NOARGS, "end every request"},
    {"close", (PyCFunction)Engine_close, METH_NOARGS, "free the engine"},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, "the engine's counters"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ringfetch._engine.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One ringfetch engine (an io_uring) driven by the thread that made it.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
};

static PyObject *error_kinds(void) {
  PyObject *t = PyTuple_New(RF_ERR__COUNT);
  for (int i = 0; t && i < RF_ERR__COUNT; i++) {
    PyObject *s = PyUnicode_FromString(rf_error_name((rf_error)i));
    if (!s) {
      Py_CLEAR(t);
      break;
    }
    PyTuple_SET_ITEM(t, i, s);
  }
  return t;
}

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT, .m_name = "ringfetch._engine",
    .m_doc = "The ringfetch engine (io_uring, BoringSSL) for CPython.", .m_size = -1};

static int add_steal(PyObject *m, const char *name, PyObject *v) {
  int rc = v ? PyModule_AddObjectRef(m, name, v) : -1;
  Py_XDECREF(v);
  return rc;
}

PyMODINIT_FUNC PyInit__engine(void); /* the module's one exported symbol */

PyMODINIT_FUNC PyInit__engine(void) {
  if (PyType_Ready(&EngineType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&engine_module);
  if (!m)
    return NULL;
  if (PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0 ||
      add_steal(m, "ERROR_KINDS", error_kinds()) < 0 ||
      PyModule_AddStringConstant(m, "ENGINE_VERSION", rf_version()) < 0 ||
      PyModule_AddIntConstant(m, "REQ_SHA256", RF_REQ_SHA256) < 0 ||
      PyModule_AddIntConstant(m, "REQ_FOLLOW", RF_REQ_FOLLOW) < 0 ||
      PyModule_AddIntConstant(m, "REQ_DECODE", RF_REQ_DECODE) < 0 ||
      PyModule_AddIntConstant(m, "REQ_REDIRECT_DOWNGRADE", RF_REQ_REDIRECT_DOWNGRADE) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
