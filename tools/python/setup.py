"""Builds ringfetch._engine from this repository's own C sources (engine/,
tls/, proto/) plus Debian's llhttp sources, against Debian's BoringSSL,
liburing, c-ares, zlib, brotli and zstd: nothing is downloaded.

The extension module is loaded by CPython with RTLD_LOCAL and exports only
PyInit__engine; BoringSSL (Debian's android-libboringssl, libssl.so.0 /
libcrypto.so.0) is found through the module's own dependency list, so its
symbols resolve inside the module and never mix with the OpenSSL 3 that
Python's ssl and hashlib modules load (tests/python/test_tls.py checks it).

Environment knobs: RINGFETCH_CFLAGS / RINGFETCH_LDFLAGS (extra flags, e.g.
the sanitizer build), RINGFETCH_BUILD_DIR (setuptools' build folder),
RINGFETCH_SRC (the repository root; default: two
folders up from this file).
"""
import glob
import os
import shlex

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.environ.get("RINGFETCH_SRC", os.path.join(HERE, "..", "..")))
BSSL_INC = "/usr/include/android"
BSSL_LIB = "/usr/lib/x86_64-linux-gnu/android"
LLHTTP_SRC = "/usr/share/llhttp"
LLHTTP_INC = "/usr/share/include/llhttp"


def need(path, package):
    if not os.path.exists(path):
        raise SystemExit("ringfetch: %s not found: install the Debian package '%s' "
                         "(tools/install-deps.sh)" % (path, package))


def _wrapper(path):
    """setuptools wants source paths relative to this folder, and the
    engine's sources live two folders up: each gets a one-line wrapper in
    src/gen/ (rewritten only when it changes, so rebuilds stay incremental)."""
    rel = os.path.relpath(path, ROOT).replace(os.sep, "_")
    name = os.path.join("src", "gen", rel)
    text = '#include "%s"\n' % path
    full = os.path.join(HERE, name)
    old = open(full).read() if os.path.exists(full) else None
    if old != text:
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return name


def sources():
    need(os.path.join(ROOT, "engine", "ringfetch.h"), "(the ringfetch repository itself)")
    need(os.path.join(BSSL_INC, "openssl", "ssl.h"), "android-libboringssl-dev")
    need(os.path.join(LLHTTP_SRC, "llhttp.c"), "node-llhttp")
    ours = [os.path.join("src", n + ".c")
            for n in ("engine_mod", "llhttp_api", "llhttp_http", "llhttp_llhttp")]
    for d in ("engine", "tls", "proto"):
        ours += [_wrapper(p) for p in sorted(glob.glob(os.path.join(ROOT, d, "*.c")))]
    return ours


WARN = ["-Wall", "-Wextra", "-Wshadow", "-Wformat=2", "-Wvla", "-Wno-unused-parameter",
        "-Wstrict-prototypes", "-Wmissing-prototypes",
        "-Wno-missing-field-initializers", "-Werror"]

ext = Extension(
    "ringfetch._engine",
    sources=sources(),
    include_dirs=[BSSL_INC, ROOT, os.path.join(ROOT, "engine"), LLHTTP_INC],
    define_macros=[("_GNU_SOURCE", "1")],
    library_dirs=[BSSL_LIB],
    runtime_library_dirs=[BSSL_LIB],
    libraries=["ssl", "crypto", "uring", "cares", "nghttp2", "z", "brotlidec", "zstd", "pthread"],
    extra_compile_args=["-std=gnu11", "-O2", "-fvisibility=hidden"] + WARN
    + shlex.split(os.environ.get("RINGFETCH_CFLAGS", "")),
    depends=[os.path.relpath(p, HERE) for p in sorted(glob.glob(os.path.join(ROOT, "*", "*.[ch]")))]
    + [os.path.join("src", "llhttp_quiet.h"), "setup.py"],
    extra_link_args=["-Wl,--exclude-libs,ALL", "-Wl,-z,now"]
    + shlex.split(os.environ.get("RINGFETCH_LDFLAGS", "")),
)

# RINGFETCH_BUILD_DIR keeps a build's objects apart (the ctest run builds a
# sanitizer variant next to the normal one).
build_base = os.environ.get("RINGFETCH_BUILD_DIR")
setup(ext_modules=[ext], options={"build": {"build_base": build_base}} if build_base else {})
