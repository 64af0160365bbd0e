/** A small HTTP client over node:http, which (unlike fetch) lets us set the Host header. */
import http from 'node:http';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpRequest {
  host: string;
  port: number;
  /** A Unix socket to connect to instead of host:port (MLflow on POSIX); Host still says `host`. */
  socketPath?: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  auth?: { user: string; password: string };
  timeoutMs?: number;
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

export function request(r: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.auth) headers.Authorization = basicAuth(r.auth.user, r.auth.password);
  if (r.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(r.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: r.host,
        port: r.port,
        ...(r.socketPath ? { socketPath: r.socketPath } : {}),
        path: r.path,
        method: r.method ?? 'GET',
        headers,
        agent: false,
        timeout: r.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${r.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}
