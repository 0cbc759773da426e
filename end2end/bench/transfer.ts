// Report helper of first-load.bench.ts: the bytes the server sends for a URL when a browser
// accepts `encoding` (the body as sent, and the response's status line and headers), read with
// node's http client, which does not decompress.
import * as http from 'node:http';

export interface Transfer {
  url: string;
  bytes: number;
  /** Status line and headers as sent (HTTP/1.1), blank line included. */
  headerBytes: number;
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
            headerBytes: headerBytes(res),
            encoding: String(res.headers['content-encoding'] ?? 'identity'),
            cacheControl: String(res.headers['cache-control'] ?? ''),
          }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The size of a response's status line and headers on the wire. */
function headerBytes(res: http.IncomingMessage): number {
  let n = `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}\r\n`.length + 2;
  for (let i = 0; i < res.rawHeaders.length; i += 2) n += res.rawHeaders[i].length + 2 + res.rawHeaders[i + 1].length + 2;
  return n;
}

/** Prints one line per URL (gzip-only and gzip+br bytes side by side) and the totals. */
export async function report(label: string, urls: string[]): Promise<{ gzip: number; gzipWire: number; br: number }> {
  let gzip = 0;
  let headers = 0;
  let br = 0;
  console.log(`BENCH ${label}: asset, bytes with "gzip" (+ response headers), bytes with "gzip, br", cache-control`);
  for (const url of urls) {
    const g = await transfer(url, 'gzip');
    const b = await transfer(url, 'gzip, br');
    gzip += g.bytes;
    headers += g.headerBytes;
    br += b.bytes;
    const name = new URL(url).pathname;
    console.log(`BENCH ${label}: ${name.padEnd(58)} ${String(g.bytes).padStart(8)} (${g.encoding}) +${String(g.headerBytes).padStart(4)} ${String(b.bytes).padStart(8)} (${b.encoding})  ${g.cacheControl}`);
  }
  const kb = (n: number) => (n / 1024).toFixed(1);
  console.log(`BENCH ${label}: total ${urls.length} requests: ${kb(gzip + headers)} KB on the wire with gzip (${kb(gzip)} KB bodies + ${kb(headers)} KB response headers), ${kb(br)} KB br bodies`);
  return { gzip, gzipWire: gzip + headers, br };
}
