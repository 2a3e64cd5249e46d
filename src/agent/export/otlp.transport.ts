// OTLP transports: gRPC (grpc-js, raw protobuf bytes through the
// opentelemetry.proto.collector.*.v1 Export methods) and HTTP/protobuf
// (POST /v1/traces, /v1/metrics). Each send resolves — never rejects — with
// an outcome the pipeline can count: delivered, retryable, or refused.
import { isIP } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { readFields } from './protobuf.writer.ts';

export type Signal = 'traces' | 'metrics';

/** Why an export failed, as a CamelCase reason for conditions and counters. */
export type FailureReason = 'Unreachable' | 'TLSError' | 'Rejected' | 'Throttled' | 'ServerError' | 'Timeout';

export type SendOutcome =
  | { ok: true; rejectedItems: number; message?: string }
  | { ok: false; retryable: boolean; reason: FailureReason; message: string };

export interface TransportOptions {
  endpoint: string;
  protocol: 'grpc' | 'http/protobuf';
  insecure: boolean;
  headers: Readonly<Record<string, string>>;
  /** PEM bundle to verify the server with (default: the system roots). */
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  serverName?: string;
  insecureSkipVerify?: boolean;
  compression: 'gzip' | 'none';
  timeoutMs: number;
}

export interface OtlpTransport {
  send(signal: Signal, body: Uint8Array): Promise<SendOutcome>;
  close(): void;
}

export function createTransport(options: TransportOptions): OtlpTransport {
  return options.protocol === 'grpc' ? new GrpcTransport(options) : new HttpTransport(options);
}

const TLS_CODES = /CERT|SSL|TLS|self[- ]signed|altnames|unable to verify|wrong version number|EPROTO/i;

function classifyNetworkError(error: Error & { code?: string }): SendOutcome {
  const text = `${error.code ?? ''} ${error.message}`;
  if (TLS_CODES.test(text)) return { ok: false, retryable: true, reason: 'TLSError', message: `TLS handshake failed: ${error.message}` };
  if (/ETIMEDOUT|timed? ?out|deadline/i.test(text)) return { ok: false, retryable: true, reason: 'Timeout', message: error.message };
  return { ok: false, retryable: true, reason: 'Unreachable', message: `${error.code ?? 'connect'}: ${error.message}` };
}

/** OTLP partial success: field 1 rejected count, field 2 message (same numbers for traces and metrics). */
function partialSuccess(body: Uint8Array): { rejectedItems: number; message?: string } {
  if (body.length === 0) return { rejectedItems: 0 };
  try {
    const partial = readFields(body).get(1);
    if (!(partial instanceof Uint8Array)) return { rejectedItems: 0 };
    const fields = readFields(partial);
    const rejected = fields.get(1);
    const message = fields.get(2);
    return {
      rejectedItems: typeof rejected === 'number' ? rejected : 0,
      ...(message instanceof Uint8Array && message.length > 0 && { message: new TextDecoder().decode(message) }),
    };
  } catch {
    return { rejectedItems: 0 };
  }
}

class HttpTransport implements OtlpTransport {
  private readonly options: TransportOptions;
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(options: TransportOptions) {
    this.options = options;
    const withScheme = /^[a-z]+:\/\//i.test(options.endpoint) ? options.endpoint : `${options.insecure ? 'http' : 'https'}://${options.endpoint}`;
    this.base = new URL(withScheme);
    if (this.base.protocol === 'http:' && !options.insecure) {
      throw new Error(`configure OTLP endpoint ${options.endpoint}: http:// needs insecure: true`);
    }
    this.agent = this.base.protocol === 'https:'
      ? new HttpsAgent({
        keepAlive: true, maxSockets: 4,
        ...(options.caPem && { ca: options.caPem }),
        ...(options.certPem && { cert: options.certPem }),
        ...(options.keyPem && { key: options.keyPem }),
        // An IP address is no server name (RFC 6066): send none unless one is configured.
        servername: options.serverName ?? (isIP(this.base.hostname.replace(/^\[|\]$/g, '')) ? '' : this.base.hostname),
        rejectUnauthorized: !options.insecureSkipVerify,
      })
      : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  send(signal: Signal, body: Uint8Array): Promise<SendOutcome> {
    const path = `${this.base.pathname.replace(/\/$/, '')}/v1/${signal}`;
    const payload = this.options.compression === 'gzip' ? gzipSync(body) : body;
    const headers: Record<string, string | number> = {
      ...this.options.headers,
      'content-type': 'application/x-protobuf',
      'content-length': payload.length,
      ...(this.options.compression === 'gzip' && { 'content-encoding': 'gzip' }),
    };
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send({
        agent: this.agent, method: 'POST', hostname: this.base.hostname, port: this.base.port, path, headers, timeout: this.options.timeoutMs,
      }, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => { if (size < 64 * 1024) { parts.push(d); size += d.length; } });
        res.on('error', (error) => resolve(classifyNetworkError(error)));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(parts);
          if (status >= 200 && status < 300) {
            resolve({ ok: true, ...partialSuccess(text) });
            return;
          }
          const detail = `HTTP ${status} from ${this.base.host}${path}${text.length > 0 && /text|json/.test(res.headers['content-type'] ?? '') ? `: ${text.toString('utf8', 0, 200).trim()}` : ''}`;
          if (status === 429) resolve({ ok: false, retryable: true, reason: 'Throttled', message: detail });
          else if (status === 502 || status === 503 || status === 504) resolve({ ok: false, retryable: true, reason: 'ServerError', message: detail });
          else resolve({ ok: false, retryable: false, reason: status >= 500 ? 'ServerError' : 'Rejected', message: detail });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.options.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (error) => resolve(classifyNetworkError(error)));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

const identity = (value: Buffer): Buffer => value;
const GRPC_PATHS: Record<Signal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};
/** gRPC codes OTLP says to retry (spec: "Failures" of the OTLP/gRPC exporter). */
const RETRYABLE_GRPC = new Set([
  grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.ABORTED, grpc.status.OUT_OF_RANGE,
  grpc.status.UNAVAILABLE, grpc.status.DATA_LOSS, grpc.status.RESOURCE_EXHAUSTED,
]);

class GrpcTransport implements OtlpTransport {
  private readonly options: TransportOptions;
  private readonly client: grpc.Client;
  private readonly target: string;

  constructor(options: TransportOptions) {
    this.options = options;
    this.target = options.endpoint.replace(/^(https?|grpcs?):\/\//i, '').replace(/\/$/, '');
    const credentials = options.insecure
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(
        options.caPem ? Buffer.from(options.caPem) : null,
        options.keyPem ? Buffer.from(options.keyPem) : null,
        options.certPem ? Buffer.from(options.certPem) : null,
        options.insecureSkipVerify ? { checkServerIdentity: () => undefined, rejectUnauthorized: false } : {},
      );
    this.client = new grpc.Client(this.target, credentials, {
      ...(options.serverName && { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName }),
      ...(options.compression === 'gzip' && { 'grpc.default_compression_algorithm': 2 }),
      // Fail fast while the receiver is down; the pipeline owns retries and backoff.
      'grpc.enable_retries': 0,
      'grpc.initial_reconnect_backoff_ms': 500,
      'grpc.max_reconnect_backoff_ms': 5000,
    });
  }

  send(signal: Signal, body: Uint8Array): Promise<SendOutcome> {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(this.options.headers)) metadata.set(key.toLowerCase(), value);
    return new Promise((resolve) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(
        GRPC_PATHS[signal], identity, identity, Buffer.from(body.buffer, body.byteOffset, body.length), metadata,
        { deadline: Date.now() + this.options.timeoutMs },
        (error, response) => {
          if (!error) {
            resolve({ ok: true, ...partialSuccess(response ?? new Uint8Array(0)) });
            return;
          }
          const message = `gRPC ${grpc.status[error.code] ?? error.code} from ${this.target}: ${error.details || error.message}`;
          if (error.code === grpc.status.UNAVAILABLE) {
            resolve({ ok: false, retryable: true, reason: TLS_CODES.test(error.details ?? '') ? 'TLSError' : 'Unreachable', message });
          } else if (error.code === grpc.status.DEADLINE_EXCEEDED) {
            resolve({ ok: false, retryable: true, reason: 'Timeout', message });
          } else if (error.code === grpc.status.RESOURCE_EXHAUSTED) {
            resolve({ ok: false, retryable: true, reason: 'Throttled', message });
          } else {
            resolve({ ok: false, retryable: RETRYABLE_GRPC.has(error.code), reason: RETRYABLE_GRPC.has(error.code) ? 'ServerError' : 'Rejected', message });
          }
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
