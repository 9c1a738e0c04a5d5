"""The installed package is typed (PEP 561): py.typed and stubs that match
what the code accepts, checked by mypy on user code."""

import ast
import inspect
import os
import subprocess
import sys
import textwrap

import ringfetch
from ringfetch import _client

PKG = os.path.dirname(ringfetch.__file__)

USER_CODE = textwrap.dedent('''
    import asyncio
    import ringfetch

    def report(urls: list[str]) -> list[int]:
        rs = ringfetch.map(urls, concurrency=500, verify="/etc/ssl/certs/ca-certificates.crt")
        for r in ringfetch.imap(iter(urls), follow_redirects=True):
            t: float = r.timings["ttfb"] + r.elapsed
            kind: str | None = r.error
        with ringfetch.Client(retries=2) as c:
            one = c.get(urls[0], raise_on_error=True)
            st = c.stats()
            ac: float = st["achieved_concurrency"]
        return [r.status_code for r in rs] + [one.status]

    async def main(urls: list[str]) -> bytes:
        async with ringfetch.AsyncClient(verify=False) as c:
            r = await c.get(urls[0])
            async for x in c.imap(urls):
                print(x.headers.get("content-type"))
            return r.content

    bad: int = ringfetch.map(["u"])[0].text
''')


def test_stub_files_are_installed():
    for f in ("py.typed", "__init__.pyi", "_engine.pyi"):
        assert os.path.exists(os.path.join(PKG, f)), f


def test_stub_options_match_the_code():
    tree = ast.parse(open(os.path.join(PKG, "__init__.pyi")).read())
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert set(ringfetch.__all__) - {"__version__", "ERROR_KINDS", "ENGINE_VERSION"} <= set(defs)
    stub_kw = {a.arg for a in defs["map"].args.kwonlyargs}
    code_kw = (set(inspect.signature(_client.engine_config).parameters)
               | set(inspect.signature(_client.RequestSpec.__init__).parameters) - {"self"})
    assert stub_kw == code_kw
    # every public signature that takes the options lists the same ones
    classes = {n: {f.name: f for f in defs[n].body if isinstance(f, ast.FunctionDef)}
               for n in ("Client", "AsyncClient")}
    for name, fn in (("imap", defs["imap"]), ("Client", classes["Client"]["__init__"]),
                     ("AsyncClient", classes["AsyncClient"]["__init__"])):
        assert {a.arg for a in fn.args.kwonlyargs} - {"raise_on_error"} == stub_kw, name


def test_mypy_checks_user_code(tmp_path):
    src = tmp_path / "user.py"
    src.write_text(USER_CODE)
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--strict",
                          "--python-executable", sys.executable, str(src)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    errors = [l for l in out.stdout.splitlines() if ": error:" in l]
    # the one deliberate mistake is found, and nothing else is reported
    bad_line = 1 + USER_CODE.splitlines().index('bad: int = ringfetch.map(["u"])[0].text')
    assert len(errors) == 1 and "user.py:%d:" % bad_line in errors[0], out.stdout
    assert 'expression has type "str"' in errors[0]
