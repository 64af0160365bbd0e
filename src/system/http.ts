/**
 * A small HTTP(S) client over node:http and node:https, which (unlike fetch) lets us set the Host
 * header and choose the trust roots per request.
 */
import http from 'node:http';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';

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
  /**
   * HTTPS. `ca`: the only trust root (the system's are not consulted), with the host name
   * verified against the certificate. `pin`: exactly this certificate (its SHA-256 fingerprint),
   * for a user's certificate whose root may be unknown here.
   */
  tls?: { ca: string } | { pin: string };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * The TLS connection for one request, handed over only once the handshake is done and the
 * server's certificate is accepted: no byte of the request (credentials) goes to a server that
 * failed verification.
 */
function connectTls(
  r: HttpRequest,
  trust: NonNullable<HttpRequest['tls']>,
  timeoutMs: number,
  done: (error: Error | null, socket?: Socket) => void,
): void {
  const pinned = 'pin' in trust;
  const socket = tls.connect({
    host: r.host,
    port: r.port,
    // SNI takes names only (RFC 6066 3): an address is verified against the certificate's IP entries.
    ...(isIP(r.host) === 0 ? { servername: r.host } : {}),
    ...(pinned ? { rejectUnauthorized: false } : { ca: [trust.ca], rejectUnauthorized: true }),
  });
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`TLS handshake timed out after ${timeoutMs} ms`)));
  socket.once('error', (error) => done(error));
  socket.once('secureConnect', () => {
    socket.setTimeout(0);
    const seen = socket.getPeerCertificate().fingerprint256;
    if (pinned && seen !== trust.pin) {
      socket.destroy();
      done(new Error(`the server's certificate (SHA-256 ${seen || 'none'}) is not the configured one (${trust.pin})`));
      return;
    }
    socket.removeAllListeners('error');
    done(null, socket);
  });
}

/** Reads a whole response into an HttpResponse (http and https alike). */
export function collectResponse(
  res: http.IncomingMessage,
  resolve: (r: HttpResponse) => void,
  reject: (error: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
  );
  res.on('error', reject);
}

export function request(r: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.auth) headers.Authorization = basicAuth(r.auth.user, r.auth.password);
  if (r.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(r.body));
  const timeoutMs = r.timeoutMs ?? 30_000;
  const trust = r.tls;
  const options: http.RequestOptions = {
    host: r.host,
    port: r.port,
    ...(r.socketPath ? { socketPath: r.socketPath } : {}),
    path: r.path,
    method: r.method ?? 'GET',
    headers,
    timeout: timeoutMs,
  };
  // One connection per request: no agent. node:http uses createConnection only when no agent is
  // given at all (agent: false makes a fresh Agent, which ignores it), and waits for its callback.
  if (!trust) options.agent = false;
  else {
    options.createConnection = ((_: unknown, oncreate: (error: Error | null, socket?: Socket) => void) => {
      connectTls(r, trust, timeoutMs, oncreate);
      return undefined;
    }) as unknown as http.RequestOptions['createConnection'];
  }
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => collectResponse(res, resolve, reject));
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}
