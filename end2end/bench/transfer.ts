// Report helper of first-load.bench.ts: the bytes the server sends for a URL when a browser
// accepts `encoding` (what goes over the wire, headers excluded), read with node's http client,
// which does not decompress.
import * as http from 'node:http';

export interface Transfer {
  url: string;
  bytes: number;
  encoding: string;
  cacheControl: string;
}

/** GETs `url` with `Accept-Encoding: acceptEncoding`; the body's size as sent. */
export function transfer(url: string, acceptEncoding: string): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('end', () =>
          resolve({
            url,
            bytes,
            encoding: String(res.headers['content-encoding'] ?? 'identity'),
            cacheControl: String(res.headers['cache-control'] ?? ''),
          }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Prints one line per URL (gzip-only and gzip+br bytes side by side) and the totals. */
export async function report(label: string, urls: string[]): Promise<{ gzip: number; br: number }> {
  let gzip = 0;
  let br = 0;
  console.log(`BENCH ${label}: asset, bytes with "gzip", bytes with "gzip, br", cache-control`);
  for (const url of urls) {
    const g = await transfer(url, 'gzip');
    const b = await transfer(url, 'gzip, br');
    gzip += g.bytes;
    br += b.bytes;
    const name = new URL(url).pathname;
    console.log(`BENCH ${label}: ${name.padEnd(58)} ${String(g.bytes).padStart(8)} (${g.encoding}) ${String(b.bytes).padStart(8)} (${b.encoding})  ${g.cacheControl}`);
  }
  console.log(`BENCH ${label}: total ${urls.length} requests: ${(gzip / 1024).toFixed(1)} KB gzip, ${(br / 1024).toFixed(1)} KB br`);
  return { gzip, br };
}
