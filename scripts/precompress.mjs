// Writes .br (max quality) and .gz (level 9) beside every JS, WASM and CSS file of the built
// site, so coopmux serves them precompressed instead of compressing on each request.
import { readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const root = process.argv[2] ?? 'target/site';
const exts = ['.js', '.mjs', '.wasm', '.css'];
let raw = 0, br = 0, gz = 0;
for (const dir of ['pkg', 'vendor']) {
  for (const name of readdirSync(join(root, dir))) {
    const file = join(root, dir, name);
    if (!exts.some((e) => name.endsWith(e)) || !statSync(file).isFile()) continue;
    const data = readFileSync(file);
    const b = brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
    const g = gzipSync(data, { level: 9 });
    writeFileSync(file + '.br', b);
    writeFileSync(file + '.gz', g);
    raw += data.length; br += b.length; gz += g.length;
    console.log(`${dir}/${name}: raw ${data.length} br ${b.length} gzip ${g.length}`);
  }
}
console.log(`dashboard transfer: raw ${raw} br ${br} gzip ${gz} bytes`);
