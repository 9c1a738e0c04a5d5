#!/usr/bin/env python3
"""Mutation check: are the tests able to see the bugs that matter?

Copies the source tree (tracked and untracked, not ignored files: uncommitted
edits included) into a temporary folder, builds it once (release), then for
each mutant below: replaces one line, rebuilds only the targets its tests
need, runs those tests in order and stops at the first failure ("caught by
<test>"). A mutant no test notices is reported as SURVIVED: a gap in the
tests, not in the mutant. The copy is restored after each mutant.

Each mutant names its file, the exact original text, the replacement and why
it matters. When the original text is no longer in the file exactly once the
script stops with an error naming the mutant, so an edit of the engine cannot
turn a mutant into a silent no-op: update the mutant with the code.

    python3 tests/mutation/mutate.py                # every mutant (~1.5 min on 2 cores)
    python3 tests/mutation/mutate.py --list         # the mutants and their tests
    python3 tests/mutation/mutate.py --only h2-stream-map,retry-count
    python3 tests/mutation/mutate.py --no-baseline  # skip running the tests on the unmutated copy
    python3 tests/mutation/mutate.py --report perf/results/mutation-DATE-SHA.md

Exit status: 0 when every mutant was caught, 1 when one survived, 2 when the
check could not run (a mutant's text not found, the build or the baseline
failed).
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_TIMEOUT = 300  # as the CTest TIMEOUT of the integration tests


def unit(name):
    """A C unit test: built as its own target, run by CTest."""
    return ("unit", name)


def py(file, selector):
    """One class or test of an integration file, run as a user would."""
    return ("py", file, selector)


# (name, file, original text, replacement, tests in the order they run, why)
MUTANTS = [
    ("keepalive-reuse", "engine/conn.c",
     "    rf_idle_add(e, c); /* may close it instead when the pool is full */",
     "    rf_conn_close(e, c); /* MUTANT: never kept alive */",
     [py("test_keepalive.py", "KeepAlive.test_reuse_50_requests_c4")],
     "every request pays a new connection (and TLS handshake); results still look right"),
    ("pipeline-order", "engine/conn.c",
     "  if (c->pl_tail)\n    c->pl_tail->next = s;",
     "  if (c->pl_tail && (s->next = c->pl_head, false)) /* MUTANT: LIFO */\n    c->pl_tail->next = s;",
     [py("test_library.py", "Pipelining.test_distinct_urls_get_their_own_responses")],
     "pipelined responses are matched to the wrong requests: wrong bodies, quietly"),
    ("max-time-early", "engine/result.c",
     "max_time ? e->now_ms + max_time : 0;",
     "max_time ? e->now_ms + max_time / 2 : 0; /* MUTANT */",
     [py("test_wire.py", "MaxTime.test_while_waiting_for_the_response")],
     "--max-time ends requests at half the time the user gave"),
    ("max-time-late", "engine/result.c",
     "max_time ? e->now_ms + max_time : 0;",
     "max_time ? e->now_ms + max_time * 2 : 0; /* MUTANT */",
     [py("test_wire.py", "MaxTime.test_while_waiting_for_the_response"),
      py("test_wire.py", "MaxTime.test_no_later_than_asked")],
     "--max-time lets a request run twice as long as the user gave"),
    ("body-sha256", "engine/sink.c",
     "    SHA256_Update(&k->sha, p, n);",
     "    SHA256_Update(&k->sha, p, n - (n > 1)); /* MUTANT: last byte of each span unhashed */",
     [py("test_fetch.py", "Fetch.test_small"), py("test_fetch.py", "Fetch.test_big_body_hashed")],
     "body_sha256 no longer proves the body: dedup and integrity checks lie"),
    ("304-body", "proto/response.c",
     "  if (r->head || status == 204 || status == 304)",
     "  if (r->head || status == 204) /* MUTANT: a 304's Content-Length is read as a body */",
     [unit("test_response"), py("test_hostile.py", "NoBodyStatus")],
     "a 304 with Content-Length eats the next response or stalls until the read timeout"),
    ("chunk-size", "proto/response.c",
     "  sc->left = v;",
     "  sc->left = v + 1; /* MUTANT: chunk data one byte longer */",
     [unit("test_response"), py("test_fetch.py", "Fetch.test_chunked")],
     "chunked bodies (most dynamic pages) mis-framed"),
    ("redirect-limit", "engine/outcome.c",
     "  if (q->nredirs >= q->max_redirects) {",
     "  if (q->nredirs > q->max_redirects) { /* MUTANT: one hop too many */",
     [py("test_crawl.py", "Redirects.test_max_redirs")],
     "--max-redirs N follows N+1 redirects (curl follows N)"),
    ("retry-count", "engine/outcome.c",
     "  if (q->attempts > e->cfg.retries)",
     "  if (q->attempts > e->cfg.retries + 1) /* MUTANT: one retry too many */",
     [py("test_crawl.py", "Retries.test_retries_run_out")],
     "--retry N makes N+1 retries: more load on a failing server than asked"),
    ("warc-payload-digest", "tools/warc.c",
     "      SHA1_Update(&c, body, n);",
     "      SHA1_Update(&c, body, n - 1); /* MUTANT: last byte not digested */",
     [unit("test_warc"), py("test_archive.py", "Warc.test_digests_recomputed_here")],
     "WARC-Payload-Digest wrong: replay tools and dedup by digest reject or merge records"),
    ("h2-stream-map", "engine/h2.c",
     "  rf_h2_stream *st = stream_of(h, id);\n  rf_slot *s = st ? st->slot : NULL;",
     "  rf_h2_stream *st = stream_of(h, id ^ 2); /* MUTANT: DATA to the neighbour stream */\n"
     "  rf_slot *s = st ? st->slot : NULL;",
     [py("test_h2.py", "H2.test_bodies_and_hashes")],
     "HTTP/2 bodies delivered to another request's result"),
    ("h2-idle-stream", "engine/sched.c",
     "  rf_conn_pipe_update(e, c); /* an idle connection takes no pipelined request or stream */",
     "  /* MUTANT: an idle pooled connection stays open to new streams */",
     [py("test_h2.py", "H2.test_goaway_one_at_a_time")],
     "a stream put on an HTTP/2 connection idle in the pool is closed under it by GOAWAY: answered requests end closed"),
    ("h2-goaway-cap", "engine/h2.c",
     "      h->c->origin->h2_conn_streams = took ? took : 1;",
     "      (void)took; /* MUTANT: nothing learnt from a GOAWAY */",
     [py("test_h2.py", "H2.test_goaway_at_high_concurrency_starves_nobody")],
     "after GOAWAY, every new connection is loaded with streams the server will refuse"),
    ("prepared-shared-headers", "engine/outcome.c",
     "  if (q->prep && !q->hdrs_own && q->n_hdrs) {",
     "  if (0) { /* MUTANT: a redirect edits the prepared request's shared headers */",
     [py("test_library.py", "Prepared.test_prepared_request")],
     "one prepared request's redirect corrupts the headers every later submission sends"),
    ("h2-read-timeout", "engine/h2.c",
     "  st->rx_due_ms = ms ? h->e->now_ms + ms : 0;",
     "  st->rx_due_ms = 0 * ms; /* MUTANT: no read timeout of its own per stream */",
     [py("test_h2.py", "H2.test_read_timeout_is_per_stream")],
     "a silent HTTP/2 stream waits for its whole connection to fall silent"),
    ("tls-verify", "tls/tls.c",
     "    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);",
     "    SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL); /* MUTANT: -k always */",
     [py("test_security.py", "Certificates")],
     "any certificate accepted: a man in the middle reads everything (security default)"),
    ("tls-min-version", "tls/tls.c",
     "  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);",
     "  SSL_CTX_set_min_proto_version(x, TLS1_VERSION); /* MUTANT: TLS 1.0 and 1.1 allowed */",
     [py("test_security.py", "TlsVersion")],
     "TLS 1.0/1.1 (deprecated by RFC 8996) accepted from a server that offers nothing better (security default)"),
    ("https-downgrade", "engine/outcome.c",
     "  if (q->u.scheme == RF_SCHEME_HTTPS && nu.scheme == RF_SCHEME_HTTP && !(q->flags & RF_REQ_REDIRECT_DOWNGRADE)) {",
     "  if (false && q->u.scheme == RF_SCHEME_HTTPS) { /* MUTANT: downgrades followed */",
     [py("test_security.py", "Redirects.test_no_https_to_http_redirect_by_default")],
     "an https URL silently ends on plain http (security default)"),
    ("credentials-cross-host", "engine/outcome.c",
     "  if (!same_origin(&prev, &q->u)) {",
     "  if (false && !same_origin(&prev, &q->u)) { /* MUTANT: credentials follow redirects */",
     [py("test_security.py", "Redirects.test_credentials_not_forwarded_to_another_host")],
     "Authorization and Cookie sent to whatever host a redirect names (security default)"),
    ("proxy-auth-in-tunnel", "engine/conn.c",
     "  if (c->origin->proxy && c->origin->scheme == RF_SCHEME_HTTP && !c->h2) {",
     "  if (c->origin->proxy && !c->h2) { /* MUTANT: proxy credentials inside CONNECT too */",
     [py("test_security.py", "Proxy.test_proxy_credentials_stay_out_of_the_tunnel")],
     "the proxy's password goes to the origin server inside TLS (security default)"),
]


class CheckError(Exception):
    pass


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def copy_tree(dst):
    """The files git knows or would add (so uncommitted edits are tested)."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, stdout=subprocess.PIPE).stdout
    for rel in out.decode().split("\0"):
        src = os.path.join(ROOT, rel)
        if not rel or not os.path.isfile(src):
            continue  # deleted but not yet committed
        os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def run_logged(argv, logf, timeout=None, env=None, cwd=None):
    with open(logf, "ab") as f:
        f.write(("\n$ %s\n" % " ".join(argv)).encode())
        f.flush()
        try:
            return subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=env, cwd=cwd).returncode
        except subprocess.TimeoutExpired:
            return "timeout"


def targets_of(tests):
    t = {"ringfetch"}
    for test in tests:
        if test[0] == "unit":
            t.add(test[1])
        elif test[1] == "test_library.py":
            t.add("lib_client")
        elif test[1] == "test_soak.py":
            t.add("soak_client")
    return sorted(t)


def build(bdir, targets, logf):
    rc = run_logged(["cmake", "--build", bdir, "-j%d" % (os.cpu_count() or 2), "--target"] + targets, logf)
    return rc == 0


def test_env(bdir):
    env = dict(os.environ)
    env.update({"RINGFETCH": os.path.join(bdir, "ringfetch"),
                "RF_LIB_CLIENT": os.path.join(bdir, "tests", "integration", "lib_client"),
                "RF_SOAK_CLIENT": os.path.join(bdir, "tests", "integration", "soak_client"),
                "RF_BUILD_DIR": bdir, "RF_SANITIZE": "OFF",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def describe(test):
    return test[1] if test[0] == "unit" else "%s %s" % (test[1], test[2])


def run_test(src, bdir, test, logf):
    """'pass', 'fail' or 'timeout'. A skipped file (77) counts as a failure
    to run: a mutant must not be called caught by a test that did not run."""
    if test[0] == "unit":
        argv = ["ctest", "--test-dir", bdir, "-R", "^%s$" % test[1], "--output-on-failure"]
        rc = run_logged(argv, logf, timeout=TEST_TIMEOUT)
    else:
        argv = [sys.executable, os.path.join(src, "tests", "integration", test[1]), test[2]]
        rc = run_logged(argv, logf, timeout=TEST_TIMEOUT, env=test_env(bdir), cwd=bdir)
    if rc == "timeout":
        return "timeout"
    if rc == 77:
        return "skipped"
    return "pass" if rc == 0 else "fail"


def apply(src, mutant):
    name, rel, orig, repl = mutant[:4]
    path = os.path.join(src, rel)
    with open(path) as f:
        text = f.read()
    n = text.count(orig)
    if n != 1:
        raise CheckError("mutant %s: the original text is in %s %d times, not once; update the mutant "
                         "in tests/mutation/mutate.py:\n%s" % (name, rel, n, orig))
    with open(path, "w") as f:
        f.write(text.replace(orig, repl))
    return text


def restore(src, rel, text):
    with open(os.path.join(src, rel), "w") as f:
        f.write(text)


def check_all_apply(src, mutants):
    """Every mutant's text is there before anything is built or run."""
    for m in mutants:
        restore(src, m[1], apply(src, m))


def baseline(src, bdir, mutants, logf):
    seen = []
    for m in mutants:
        for t in m[4]:
            if t not in seen:
                seen.append(t)
    for t in seen:
        r = run_test(src, bdir, t, logf)
        log("  baseline %-70s %s" % (describe(t), r))
        if r != "pass":
            raise CheckError("the unmutated tree fails %s (log: %s)" % (describe(t), logf))


def run_mutant(src, bdir, m, logf):
    name, rel, _, _, tests, _ = m
    text = apply(src, m)
    try:
        if not build(bdir, targets_of(tests), logf):
            raise CheckError("mutant %s does not compile: fix the mutant (log: %s)" % (name, logf))
        for t in tests:
            r = run_test(src, bdir, t, logf)
            if r == "fail":
                return "caught by " + describe(t)
            if r == "timeout":
                return "caught by %s (timed out after %d s)" % (describe(t), TEST_TIMEOUT)
            if r == "skipped":
                raise CheckError("%s skipped under mutant %s: cannot judge it" % (describe(t), name))
        return "SURVIVED"
    finally:
        restore(src, rel, text)


def commit_of():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    return r.stdout.strip() + (" + uncommitted changes" if dirty else "")


def write_report(path, rows, caught, started, elapsed, commit, did_baseline):
    with open(path, "w") as f:
        f.write("# Mutation check\n\n")
        f.write("Run %s UTC, commit `%s`, `python3 tests/mutation/mutate.py` on %d cores; "
                "baseline (the same tests on the unmutated copy) %s.\n\n"
                % (started.strftime("%Y-%m-%d %H:%M"), commit, os.cpu_count() or 0,
                   "passed" if did_baseline else "not run"))
        f.write("**%d of %d caught** in %.1f min.\n\n" % (caught, len(rows), elapsed / 60))
        f.write("| mutant | file | what it breaks | result | s |\n|---|---|---|---|---:|\n")
        for m, result, secs in rows:
            f.write("| %s | `%s` | %s | %s | %.0f |\n" % (m[0], m[1], m[5], result, secs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    ap.add_argument("--only", help="comma-separated mutant names")
    ap.add_argument("--no-baseline", action="store_true", help="do not run the tests on the unmutated copy first")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy, build and log")
    ap.add_argument("--report", help="write a Markdown report to this file")
    a = ap.parse_args()
    mutants = MUTANTS
    if a.only:
        names = a.only.split(",")
        unknown = set(names) - {m[0] for m in MUTANTS}
        if unknown:
            ap.error("unknown mutant(s): %s" % ", ".join(sorted(unknown)))
        mutants = [m for m in MUTANTS if m[0] in names]
    if a.list:
        for m in mutants:
            log("%-24s %-18s %s\n%24s tests: %s" % (m[0], m[1], m[5], "", "; ".join(describe(t) for t in m[4])))
        return 0
    started, t0 = datetime.datetime.utcnow(), time.monotonic()
    work = tempfile.mkdtemp(prefix="rf-mutation-")
    src, bdir, logf = os.path.join(work, "src"), os.path.join(work, "build"), os.path.join(work, "log.txt")
    log("copy and build in %s (log: %s)" % (work, logf))
    ok = False
    try:
        copy_tree(src)
        check_all_apply(src, mutants)
        if run_logged(["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], logf) != 0:
            raise CheckError("cmake failed (log: %s)" % logf)
        all_targets = sorted({t for m in mutants for t in targets_of(m[4])})
        if not build(bdir, all_targets, logf):
            raise CheckError("the unmutated copy does not build (log: %s)" % logf)
        if not a.no_baseline:
            baseline(src, bdir, mutants, logf)
        rows, caught = [], 0
        for m in mutants:
            m0 = time.monotonic()
            result = run_mutant(src, bdir, m, logf)
            caught += result != "SURVIVED"
            rows.append((m, result, time.monotonic() - m0))
            log("%-24s %s (%.0f s)" % (m[0], result, rows[-1][2]))
        elapsed = time.monotonic() - t0
        log("%d of %d caught (%.1f min)" % (caught, len(mutants), elapsed / 60))
        if a.report:
            write_report(a.report, rows, caught, started, elapsed, commit_of(), not a.no_baseline)
        ok = True
        return 0 if caught == len(mutants) else 1
    except CheckError as e:
        log("ERROR: %s" % e)
        return 2
    finally:
        if a.keep or not ok:
            log("kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
