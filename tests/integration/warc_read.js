#!/usr/bin/env node
// An independent WARC reader for the tests: Webrecorder's warcio (the Node
// package, warcio.js) reads the files ringfetch writes, so a reader that is
// not ours agrees on the record framing, the gzip member boundaries (offset,
// length) and the headers.
//
// warcio is installed by tools/install-deps.sh with
//   npm install --prefix /opt/ringfetch-node warcio@<pinned version>
// and found there, or under $RF_NODE_PREFIX when that is set.
//
// How tests call it:
//   node tests/integration/warc_read.js [--check] FILE.warc.gz [...]
//     prints one JSON line per record, in file order:
//       {"file": "...", "type": "response", "uri": "http://...",
//        "id": "<urn:uuid:...>", "date": "...", "offset": 1234, "length": 567,
//        "content_length": 890, "status": 200, "concurrent_to": ["<urn:...>"],
//        "block_digest": "sha1:...", "block_digest_ok": true,
//        "payload_digest": "sha1:...", "protocol": "h2" or null}
//     offset/length are warcio's own (where the gzip member starts and its
//     compressed length); block_digest_ok says whether SHA-1 (base32) of the
//     block, as warcio hands it back, equals WARC-Block-Digest. status is the
//     HTTP status of request/response records, else null.
//     With --check the exit status is 1 when a block digest differs, a record
//     has no WARC-Record-ID, or warcio fails to read the file (the message is
//     on stderr); 0 otherwise.
//   node tests/integration/warc_read.js --cdxj FILE.warc.gz [...]
//     prints warcio's own CDXJ index lines (its CDXIndexer), to compare with
//     ringfetch's --cdxj: same offsets, lengths, URLs, statuses and digests
//     (warcio writes the digest without the "sha1:" prefix and uses its own,
//     simpler SURT).
//   From Python: subprocess.run(["node", path_to_this_file, "--check", warc],
//     capture_output=True) and json.loads each stdout line (warc_check.py's
//     --selftest does exactly that).
// Exit 2: warcio is not installed (run tools/install-deps.sh).
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { createRequire } = require('module');

function loadWarcio() {
  const prefix = process.env.RF_NODE_PREFIX || '/opt/ringfetch-node';
  try {
    return createRequire(path.join(prefix, 'package.json'))('warcio');
  } catch (e) {
    process.stderr.write(`warc_read.js: warcio not found under ${prefix}/node_modules ` +
      `(${e.message.split('\n')[0]}); tools/install-deps.sh installs it (Debian packages ` +
      `nodejs and npm, then warcio from the npm registry)\n`);
    process.exit(2);
  }
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(buf) {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of buf) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

function httpStatus(type, block) {
  if (type !== 'response' && type !== 'request') return null;
  const nl = block.indexOf(10);
  const line = Buffer.from(block.subarray(0, nl < 0 ? Math.min(block.length, 200) : nl))
    .toString('latin1');
  if (type === 'response') {
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(line);
    return m ? Number(m[1]) : null;
  }
  return null;
}

async function readOne(warcio, file, check) {
  let bad = 0;
  const parser = new warcio.WARCParser(fs.createReadStream(file), { parseHttp: false });
  for await (const record of parser) {
    const block = await record.readFully(false);
    const type = record.warcType;
    const id = record.warcHeader('WARC-Record-ID') || null;
    const declared = record.warcBlockDigest || null;
    const computed = 'sha1:' + base32(crypto.createHash('sha1').update(block).digest());
    const ok = declared ? declared === computed : null;
    const out = {
      file: path.basename(file),
      type,
      uri: record.warcTargetURI || null,
      id,
      date: record.warcDate || null,
      offset: parser.offset,
      length: parser.recordLength,
      content_length: record.warcContentLength,
      block_bytes: block.length,
      status: httpStatus(type, block),
      concurrent_to: record.warcConcurrentTo || [],
      block_digest: declared,
      block_digest_ok: ok,
      payload_digest: record.warcPayloadDigest || null,
      protocol: record.warcHeader('WARC-Protocol') || null,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    if (check && (ok === false || !id || block.length !== record.warcContentLength)) {
      process.stderr.write(`warc_read.js: ${file} at ${parser.offset}: ` +
        (ok === false ? `block digest ${declared}, warcio's block gives ${computed}`
          : !id ? 'no WARC-Record-ID' : `block of ${block.length} bytes, ` +
            `Content-Length ${record.warcContentLength}`) + '\n');
      bad++;
    }
  }
  return bad;
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const cdxj = args.includes('--cdxj');
  const files = args.filter((a) => !a.startsWith('--'));
  if (!files.length) {
    process.stderr.write('usage: node warc_read.js [--check | --cdxj] FILE.warc.gz [...]\n');
    process.exit(2);
  }
  const warcio = loadWarcio();
  if (cdxj) {
    const indexer = new warcio.CDXIndexer({ format: 'cdxj' });
    const list = files.map((f) => ({ filename: path.basename(f), reader: fs.createReadStream(f) }));
    for await (const line of indexer.iterIndex(list)) process.stdout.write(indexer.serialize(line));
    return 0;
  }
  let bad = 0;
  for (const f of files) {
    try {
      bad += await readOne(warcio, f, check);
    } catch (e) {
      process.stderr.write(`warc_read.js: ${f}: warcio failed: ${e.stack || e}\n`);
      bad++;
    }
  }
  return check && bad ? 1 : 0;
}

process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`warc_read.js: ${e.stack || e}\n`);
  process.exit(1);
});
