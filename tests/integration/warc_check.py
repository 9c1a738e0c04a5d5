#!/usr/bin/env python3
"""A standalone WARC/1.1 checker (Python 3 standard library only).

    python3 warc_check.py [--quiet] [--records] FILE.warc.gz [...]
        Walks every gzip member (or, for an uncompressed .warc, every record),
        parses the records and checks them:
          - framing: "WARC/1.1" (or 1.0), CRLF header lines, Content-Length,
            the block, CRLF CRLF; in a .warc.gz one record per gzip member,
            nothing else in it;
          - mandatory fields (WARC-Record-ID, WARC-Date, WARC-Type,
            Content-Length) and their shapes; record ids unique over all files;
          - each file starts with a warcinfo record (WARC-Filename differing
            from the file's name is a warning: files may be renamed);
          - WARC-Block-Digest recomputed over the block;
          - WARC-Payload-Digest recomputed over the payload: the HTTP entity
            body after transfer decoding, i.e. de-chunked when the response's
            Transfer-Encoding ends in "chunked" (content coding kept), as
            WARC/1.1 defines it and ringfetch's writer promises. warcio's
            `check` digests the raw chunked bytes instead and disagrees on
            chunked records; this checker does not. A record with
            WARC-Truncated may end inside a chunk: its payload is the chunk
            data it holds;
          - request/response pairing by WARC-Concurrent-To (a response names
            its request and the other way round, same target URI and date),
            WARC-Warcinfo-ID naming a warcinfo record of the same file,
            WARC-Target-URI without angle brackets.
        Prints a JSON summary (records by type, exchanges, truncated records,
        errors, warnings); exit status 1 when there are errors. --quiet prints
        the summary only when there are errors; --records also prints one JSON
        line per record before it.

    python3 warc_check.py --selftest PATH/TO/test_warc
        Runs the unit test binary to write sample WARCs into a temporary
        folder, checks them here, checks its CDXJ against the records, and
        reads them with Webrecorder's warcio for Node (warc_read.js), comparing
        record ids, offsets and lengths with ours. This is the `warc_readers`
        CTest.

As a module (for the integration tests):

    import warc_check
    records = warc_check.read_warc("out.warc.gz")   # list of Record
    summary = warc_check.check_files(["out-00000.warc.gz", ...])
    r.type, r.uri, r.id, r.offset, r.length, r.header("WARC-Date"),
    r.block, r.http() -> (start_line, [(name, value)], body),
    r.payload() -> de-chunked body, payload_label(r) -> "sha1:..."
    exchanges(records) -> [(request, response)]
    read_cdxj("out.cdxj") -> list of (key, timestamp, dict)
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

__all__ = ["Record", "read_warc", "iter_records", "check_files", "exchanges",
           "payload_label", "block_label", "dechunk", "read_cdxj", "WarcError"]


class WarcError(Exception):
    pass


class Record:
    """One WARC record: where it is and what it holds."""

    def __init__(self, path, offset, length, version, headers, block):
        self.path = path            # the file
        self.offset = offset        # start of its gzip member (or of the record)
        self.length = length        # compressed length of the member (or record length)
        self.version = version      # "WARC/1.1"
        self.headers = headers      # [(name, value)] in order
        self.block = block          # bytes

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def type(self):
        return self.header("WARC-Type")

    @property
    def id(self):
        return self.header("WARC-Record-ID")

    @property
    def uri(self):
        return self.header("WARC-Target-URI")

    def http(self):
        """(start line, [(name, value)], body) of an application/http block;
        1xx interim responses before the final one are skipped."""
        return parse_http(self.block, self.type == "response")

    def payload(self, tolerant=None):
        """The payload: the HTTP body after transfer decoding (de-chunked)."""
        if tolerant is None:
            tolerant = self.header("WARC-Truncated") is not None
        _, headers, body = self.http()
        if is_chunked(headers):
            data, _complete = dechunk(body, tolerant=tolerant)
            return data
        return body

    def to_json(self):
        return {"file": os.path.basename(self.path), "offset": self.offset,
                "length": self.length, "type": self.type, "id": self.id,
                "uri": self.uri, "date": self.header("WARC-Date"),
                "content_length": len(self.block),
                "truncated": self.header("WARC-Truncated")}

    def __repr__(self):
        return "Record(%s %s at %d)" % (self.type, self.uri or "", self.offset)


# ---- reading ----------------------------------------------------------------

def _parse_record(data, path, offset, length, exact):
    """Parses one record from data (a member's bytes, or the rest of a file).
    Returns (Record, bytes used)."""
    eol = data.find(b"\r\n")
    if eol < 0:
        raise WarcError("no version line")
    version = data[:eol].decode("latin-1")
    if version not in ("WARC/1.1", "WARC/1.0"):
        raise WarcError("version line %r" % version[:40])
    pos = eol + 2
    headers = []
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise WarcError("header block not ended by an empty line")
        line = data[pos:eol]
        pos = eol + 2
        if not line:
            break
        if line[:1] in (b" ", b"\t") and headers:   # continuation
            k, v = headers[-1]
            headers[-1] = (k, v + " " + line.strip().decode("utf-8", "replace"))
            continue
        colon = line.find(b":")
        if colon <= 0:
            raise WarcError("malformed header line %r" % line[:60])
        headers.append((line[:colon].decode("utf-8", "replace").strip(),
                        line[colon + 1:].strip().decode("utf-8", "replace")))
    cl = [v for k, v in headers if k.lower() == "content-length"]
    if len(cl) != 1 or not cl[0].isdigit():
        raise WarcError("Content-Length missing or malformed: %r" % (cl,))
    n = int(cl[0])
    if len(data) - pos < n + 4:
        raise WarcError("block shorter than Content-Length %d" % n)
    block = bytes(data[pos:pos + n])
    pos += n
    if data[pos:pos + 4] != b"\r\n\r\n":
        raise WarcError("block not followed by CRLF CRLF")
    pos += 4
    if exact and pos != len(data):
        raise WarcError("%d bytes after the record in its gzip member" % (len(data) - pos))
    return Record(path, offset, length if length is not None else pos, version, headers,
                  block), pos


def _gzip_members(data):
    """Yields (offset, compressed length, decompressed bytes) per gzip member."""
    off = 0
    mv = memoryview(data)
    step = 1 << 20
    while off < len(data):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = []
        fed = 0
        while not d.eof:
            if off + fed >= len(data):
                raise WarcError("gzip member at %d is cut short" % off)
            chunk = mv[off + fed:off + fed + step]
            fed += len(chunk)
            try:
                out.append(d.decompress(chunk))
            except zlib.error as e:
                raise WarcError("gzip member at %d: %s" % (off, e))
        used = fed - len(d.unused_data)
        yield off, used, b"".join(out)
        off += used


def iter_records(path):
    """Yields the records of one file (.warc.gz with a member per record, or
    an uncompressed .warc). Raises WarcError at the first framing error."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        for off, used, raw in _gzip_members(data):
            try:
                rec, _ = _parse_record(raw, path, off, used, exact=True)
            except WarcError as e:
                raise WarcError("%s: record at %d: %s" % (path, off, e))
            yield rec
    else:
        off = 0
        while off < len(data):
            try:
                rec, used = _parse_record(memoryview(data)[off:], path, off, None, exact=False)
            except WarcError as e:
                raise WarcError("%s: record at %d: %s" % (path, off, e))
            yield rec
            off += used


def read_warc(path):
    """All records of one file, as a list."""
    return list(iter_records(path))


# ---- HTTP blocks and digests --------------------------------------------------

def _split_head(block):
    """(head bytes incl. the empty line, body) at the first empty line (CRLF or LF)."""
    i = 0
    while True:
        j = block.find(b"\n", i)
        if j < 0:
            return block, b""
        if block[j + 1:j + 2] == b"\n":
            return block[:j + 2], block[j + 2:]
        if block[j + 1:j + 3] == b"\r\n":
            return block[:j + 3], block[j + 3:]
        i = j + 1


def parse_http(block, response=True):
    while True:
        head, body = _split_head(block)
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        start = lines[0].decode("latin-1")
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            if line[:1] in (b" ", b"\t") and headers:
                continue
            k, _, v = line.partition(b":")
            headers.append((k.decode("latin-1").strip(), v.decode("latin-1").strip()))
        m = re.match(r"HTTP/\d\.\d (\d{3})", start) if response else None
        if m and 100 <= int(m.group(1)) < 200 and int(m.group(1)) != 101 and body:
            block = body           # an interim response: the final one follows
            continue
        return start, headers, body


def is_chunked(headers):
    te = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if not te:
        return False
    codings = [c.strip().lower() for c in te[-1].split(",")]
    return codings[-1] == "chunked"


def dechunk(body, tolerant=False):
    """Joined chunk data, and whether the last chunk came. tolerant: a body
    cut anywhere gives the data it holds (what a truncated record holds);
    otherwise a malformed or cut body raises WarcError."""
    out = []
    i = 0
    n = len(body)
    while i < n:
        m = re.match(rb"[0-9A-Fa-f]+", body[i:i + 32])
        if not m:
            if tolerant:
                break
            raise WarcError("bad chunk size line at body byte %d" % i)
        size = int(m.group(0), 16)
        eol = body.find(b"\n", i)
        if eol < 0:
            if tolerant:
                break
            raise WarcError("chunk size line cut at body byte %d" % i)
        i = eol + 1
        if size == 0:
            return b"".join(out), True
        data = body[i:i + size]
        out.append(data)
        i += len(data)
        if len(data) < size:
            if tolerant:
                break
            raise WarcError("chunk cut: %d of %d bytes" % (len(data), size))
        if body[i:i + 2] == b"\r\n":
            i += 2
        elif body[i:i + 1] == b"\n":
            i += 1
        elif not tolerant:
            raise WarcError("chunk data not followed by CRLF at body byte %d" % i)
    if not tolerant:
        raise WarcError("chunked body without its last chunk")
    return b"".join(out), False


def _label(algo, data):
    h = hashlib.new(algo)
    h.update(data)
    return algo + ":" + base64.b32encode(h.digest()).decode("ascii")


def _matches(declared, data):
    """Whether "algo:value" (base32 or hex) is the digest of data."""
    algo, _, value = declared.partition(":")
    algo = algo.lower().replace("-", "")
    try:
        h = hashlib.new(algo)
    except ValueError:
        return None                 # an algorithm we do not know: not checked
    h.update(data)
    d = h.digest()
    return value.upper() in (base64.b32encode(d).decode("ascii").rstrip("="), d.hex().upper())


def block_label(record):
    return _label("sha1", record.block)


def payload_label(record):
    """sha1:BASE32 of the payload as WARC/1.1 defines it (see the module doc)."""
    return _label("sha1", record.payload())


# ---- checking ----------------------------------------------------------------

_ID_RE = re.compile(r"^<[A-Za-z][A-Za-z0-9+.-]*:[^<>\s]+>$")
_DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
_TRUNCATED = {"length", "time", "disconnect", "unspecified"}


def exchanges(records):
    """(request, response) pairs linked both ways by WARC-Concurrent-To."""
    by_id = {r.id: r for r in records if r.id}
    pairs = []
    for r in records:
        if r.type != "response":
            continue
        for other in r.header_all("WARC-Concurrent-To"):
            q = by_id.get(other)
            if q is not None and q.type == "request":
                pairs.append((q, r))
                break
    return pairs


def check_files(paths, records_out=None):
    """Checks files; returns the summary dict. records_out, a list, receives
    every record read."""
    errors, warnings = [], []
    by_type = {}
    truncated = {}
    all_records = []
    seen_ids = {}
    for path in paths:
        try:
            recs = read_warc(path)
        except (OSError, WarcError) as e:
            errors.append(str(e))
            continue
        base = os.path.basename(path)

        def err(r, msg):
            errors.append("%s:%d: %s %s: %s" % (base, r.offset, r.type, r.uri or "", msg))

        if not recs:
            errors.append("%s: no records" % base)
            continue
        if recs[0].type != "warcinfo":
            err(recs[0], "the first record is not warcinfo")
        warcinfo_ids = {r.id for r in recs if r.type == "warcinfo"}
        for r in recs:
            all_records.append(r)
            by_type[r.type] = by_type.get(r.type, 0) + 1
            for name in ("WARC-Record-ID", "WARC-Date", "WARC-Type", "Content-Length"):
                if r.header(name) is None:
                    err(r, "no " + name)
            if r.id is not None:
                if not _ID_RE.match(r.id):
                    err(r, "WARC-Record-ID %r is not <uri>" % r.id)
                if r.id in seen_ids:
                    err(r, "WARC-Record-ID %s also at %s" % (r.id, seen_ids[r.id]))
                seen_ids[r.id] = "%s:%d" % (base, r.offset)
            if r.header("WARC-Date") and not _DATE_RE.match(r.header("WARC-Date")):
                err(r, "WARC-Date %r" % r.header("WARC-Date"))
            bd = r.header("WARC-Block-Digest")
            if bd is not None and _matches(bd, r.block) is False:
                err(r, "WARC-Block-Digest %s, block gives %s" % (bd, block_label(r)))
            t = r.header("WARC-Truncated")
            if t is not None:
                truncated[t] = truncated.get(t, 0) + 1
                if t not in _TRUNCATED:
                    err(r, "WARC-Truncated %r" % t)
            if r.type == "warcinfo":
                fn = r.header("WARC-Filename")
                if fn is None:
                    warnings.append("%s:%d: warcinfo without WARC-Filename" % (base, r.offset))
                elif fn != base:
                    warnings.append("%s:%d: WARC-Filename %s" % (base, r.offset, fn))
                continue
            if r.type not in ("request", "response"):
                continue
            uri = r.uri
            if not uri:
                err(r, "no WARC-Target-URI")
            elif uri.startswith("<") or re.search(r"\s", uri):
                err(r, "WARC-Target-URI %r (angle brackets or blanks)" % uri)
            wi = r.header("WARC-Warcinfo-ID")
            if wi is not None and wi not in warcinfo_ids:
                err(r, "WARC-Warcinfo-ID %s is no warcinfo record of this file" % wi)
            want_ct = "application/http;msgtype=" + r.type
            ct = (r.header("Content-Type") or "").replace(" ", "").lower()
            if ct != want_ct:
                err(r, "Content-Type %r" % r.header("Content-Type"))
            if r.type == "response":
                pd = r.header("WARC-Payload-Digest")
                try:
                    start, headers, body = r.http()
                    if not re.match(r"HTTP/\d\.\d \d{3}", start):
                        err(r, "status line %r" % start[:60])
                    if is_chunked(headers):
                        payload, _ = dechunk(body, tolerant=t is not None)
                    else:
                        payload = body
                except WarcError as e:
                    err(r, "payload: %s" % e)
                    continue
                if pd is None:
                    warnings.append("%s:%d: response without WARC-Payload-Digest" %
                                    (base, r.offset))
                elif _matches(pd, payload) is False:
                    err(r, "WARC-Payload-Digest %s, de-chunked payload gives %s" %
                        (pd, _label("sha1", payload)))
        # pairing
        by_id = {r.id: r for r in recs if r.id}
        for r in recs:
            if r.type not in ("request", "response"):
                continue
            links = r.header_all("WARC-Concurrent-To")
            want = "request" if r.type == "response" else "response"
            partners = [by_id.get(x) for x in links]
            partners = [p for p in partners if p is not None and p.type == want]
            if not partners:
                err(r, "no %s linked by WARC-Concurrent-To in this file" % want)
                continue
            p = partners[0]
            back = p.header_all("WARC-Concurrent-To")
            if back and r.id not in back:
                err(r, "its %s at %d links elsewhere (%s)" % (want, p.offset, back))
            if p.uri != r.uri:
                err(r, "its %s has WARC-Target-URI %s" % (want, p.uri))
            if p.header("WARC-Date") != r.header("WARC-Date"):
                err(r, "its %s has WARC-Date %s" % (want, p.header("WARC-Date")))
    if records_out is not None:
        records_out.extend(all_records)
    return {"files": len(paths), "records": len(all_records), "by_type": by_type,
            "exchanges": len(exchanges(all_records)), "truncated": truncated,
            "errors": errors, "warnings": warnings}


# ---- CDXJ ----------------------------------------------------------------------

def read_cdxj(path):
    """[(key, timestamp, fields)] of a CDXJ file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            key, ts, js = line.split(" ", 2)
            out.append((key, ts, json.loads(js)))
    return out


def check_cdxj(cdxj_path, warc_dir):
    """Each line points at a response record: same URL, digest, status."""
    errors = []
    cache = {}
    for n, (key, ts, d) in enumerate(read_cdxj(cdxj_path), 1):
        where = "%s:%d" % (os.path.basename(cdxj_path), n)
        for k in ("url", "status", "digest", "length", "offset", "filename"):
            if not isinstance(d.get(k), str):
                errors.append("%s: %s missing or not a string" % (where, k))
        if not re.match(r"^\d{14}$", ts) or not key or " " in key:
            errors.append("%s: key %r timestamp %r" % (where, key, ts))
        path = os.path.join(warc_dir, d.get("filename", ""))
        if path not in cache:
            try:
                with open(path, "rb") as f:
                    cache[path] = f.read()
            except OSError as e:
                errors.append("%s: %s" % (where, e))
                cache[path] = None
        data = cache[path]
        if data is None:
            continue
        off, ln = int(d["offset"]), int(d["length"])
        try:
            members = list(_gzip_members(data[off:off + ln]))
            if len(members) != 1 or members[0][1] != ln:
                raise WarcError("[offset, offset+length) is not exactly one gzip member")
            rec, _ = _parse_record(members[0][2], path, off, ln, exact=True)
        except WarcError as e:
            errors.append("%s: %s" % (where, e))
            continue
        if rec.type != "response":
            errors.append("%s: points at a %s record" % (where, rec.type))
        if rec.uri != d.get("url"):
            errors.append("%s: url %s, record %s" % (where, d.get("url"), rec.uri))
        if rec.header("WARC-Payload-Digest") != d.get("digest"):
            errors.append("%s: digest %s, record %s" % (where, d.get("digest"),
                                                       rec.header("WARC-Payload-Digest")))
        start = rec.http()[0]
        if start.split(" ")[1:2] != [d.get("status")]:
            errors.append("%s: status %s, record %r" % (where, d.get("status"), start))
    return errors


# ---- the self-test -----------------------------------------------------------------

def _node():
    return shutil.which("node") or shutil.which("nodejs")


def selftest(test_binary):
    here = os.path.dirname(os.path.abspath(__file__))
    failures = []
    with tempfile.TemporaryDirectory(prefix="rf-warc-") as d:
        p = subprocess.run([test_binary, d], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-4000:], file=sys.stderr)
            print("FAIL: %s exited %d" % (test_binary, p.returncode), file=sys.stderr)
            return 1
        sample = os.path.join(d, "sample.warc.gz")
        rot = sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("rot-"))
        files = [sample] + rot
        recs = []
        summary = check_files(files, recs)
        failures += summary["errors"]
        if summary["warnings"]:
            failures.append("unexpected warnings: %s" % summary["warnings"])
        if summary["exchanges"] < 12 or summary["by_type"].get("warcinfo") != len(files):
            failures.append("unexpected summary %s" % json.dumps(summary))
        if summary["truncated"] != {"length": 1, "time": 1, "disconnect": 1}:
            failures.append("truncated records %s" % summary["truncated"])
        failures += check_cdxj(os.path.join(d, "sample.cdxj"), d)

        node = _node()
        if not node:
            failures.append("node not found: install the Debian packages nodejs and npm "
                            "(tools/install-deps.sh)")
        else:
            q = subprocess.run([node, os.path.join(here, "warc_read.js"), "--check"] + files,
                               capture_output=True, text=True)
            if q.returncode != 0:
                failures.append("warc_read.js exited %d: %s" % (q.returncode, q.stderr[-2000:]))
            else:
                theirs = [json.loads(line) for line in q.stdout.splitlines() if line]
                ours = [{"file": os.path.basename(r.path), "type": r.type, "id": r.id,
                         "uri": r.uri, "offset": r.offset, "length": r.length,
                         "content_length": len(r.block)} for r in recs]
                keys = ("file", "type", "id", "uri", "offset", "length", "content_length")
                theirs_k = [{k: t.get(k) for k in keys} for t in theirs]
                if theirs_k != ours:
                    for a, b in zip(ours, theirs_k):
                        if a != b:
                            failures.append("warcio reads %s, we read %s" % (b, a))
                            break
                    else:
                        failures.append("warcio read %d records, we read %d" %
                                        (len(theirs), len(ours)))
                if not all(t.get("block_digest_ok") for t in theirs):
                    failures.append("warcio's blocks do not match their digests")
                # warcio's own CDXJ: the same offsets and lengths for each response
                c = subprocess.run([node, os.path.join(here, "warc_read.js"), "--cdxj", sample],
                                   capture_output=True, text=True)
                w = sorted((j["url"], j["offset"], j["length"], j.get("status"))
                           for j in (json.loads(line.split(" ", 2)[2])
                                     for line in c.stdout.splitlines() if line))
                o = sorted((j["url"], j["offset"], j["length"], j["status"])
                           for _, _, j in read_cdxj(os.path.join(d, "sample.cdxj")))
                if c.returncode != 0 or w != o:
                    failures.append("warcio's CDXJ differs: %s vs ours %s %s" %
                                    (w, o, c.stderr[-1000:]))
        print(json.dumps({"selftest": "warc", "files": [os.path.basename(f) for f in files],
                          "summary": {k: summary[k] for k in
                                      ("records", "by_type", "exchanges", "truncated")},
                          "failures": failures}))
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    print("1 passed, 0 failed")
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--selftest":
        return selftest(argv[1])
    quiet = "--quiet" in argv
    per_record = "--records" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        print(__doc__.split("\n\nAs a module")[0], file=sys.stderr)
        return 2
    recs = []
    summary = check_files(paths, recs)
    if per_record:
        for r in recs:
            print(json.dumps(r.to_json()))
    if not quiet or summary["errors"]:
        print(json.dumps(summary, indent=1))
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
