// Lays out the console's site: the bundle and stylesheet under one content hash, each with a
// brotli and a gzip copy beside it, the public assets, and pkg/site.json naming the bundle.
// Usage: node scripts/pack-site.mjs --staging DIR --style FILE --public DIR --site DIR
//          --profile NAME [--best]
// The server serves pkg/ with `Cache-Control: immutable` and the precompressed copies
// (src/web/assets.rs); a new build gets new names, so a browser never keeps a stale bundle.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    staging: { type: 'string' },
    style: { type: 'string' },
    public: { type: 'string' },
    site: { type: 'string' },
    profile: { type: 'string' },
    best: { type: 'boolean', default: false },
  },
});
for (const name of ['staging', 'style', 'public', 'site', 'profile']) {
  if (!args[name]) {
    console.error(`pack-site: --${name} is required`);
    process.exit(2);
  }
}

const js = fs.readFileSync(path.join(args.staging, 'wxpush.js'));
const wasm = fs.readFileSync(path.join(args.staging, 'wxpush_bg.wasm'));
const css = fs.readFileSync(args.style);
const hash = createHash('sha256');
for (const part of [js, wasm, css]) hash.update(part);
const name = `wxpush-${hash.digest('hex').slice(0, 16)}`;

// Brotli at its best for a release bundle; a debug bundle (tens of MB) at a quality that takes
// seconds, not minutes.
const brotliQuality = args.best ? 11 : 5;
function writeCompressed(file, bytes) {
  fs.writeFileSync(file, bytes);
  fs.writeFileSync(`${file}.gz`, zlib.gzipSync(bytes, { level: 9 }));
  fs.writeFileSync(
    `${file}.br`,
    zlib.brotliCompressSync(bytes, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: brotliQuality,
        [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }),
  );
}

// A fresh pkg/ next to the old one, swapped in at the end: a running server keeps serving a
// whole site, never half of one.
const pkg = path.join(args.site, 'pkg');
const next = path.join(args.site, 'pkg.next');
fs.rmSync(next, { recursive: true, force: true });
fs.mkdirSync(next, { recursive: true });
writeCompressed(path.join(next, `${name}.js`), js);
writeCompressed(path.join(next, `${name}.wasm`), wasm);
writeCompressed(path.join(next, `${name}.css`), css);
// Inline JS snippets of crates, imported by the bundle's JS relative to it.
const snippets = path.join(args.staging, 'snippets');
if (fs.existsSync(snippets)) fs.cpSync(snippets, path.join(next, 'snippets'), { recursive: true });
fs.writeFileSync(
  path.join(next, 'site.json'),
  JSON.stringify({ bundle: name, profile: args.profile }, null, 1) + '\n',
);
fs.cpSync(args.public, args.site, { recursive: true });
const old = path.join(args.site, 'pkg.old');
fs.rmSync(old, { recursive: true, force: true });
if (fs.existsSync(pkg)) fs.renameSync(pkg, old);
fs.renameSync(next, pkg);
fs.rmSync(old, { recursive: true, force: true });

const kb = (n) => (n / 1024).toFixed(1);
const sizes = (file) => {
  const at = path.join(pkg, file);
  return `${kb(fs.statSync(at).size)} KB, ${kb(fs.statSync(`${at}.br`).size)} KB br, ${kb(fs.statSync(`${at}.gz`).size)} KB gz`;
};
console.log(`pack-site: ${pkg}/${name}.wasm ${sizes(`${name}.wasm`)}`);
