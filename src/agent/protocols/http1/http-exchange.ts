// One HTTP request paired with its response: the record the HTTP/1 session
// emits and the http_events adapter stores (src/tables/http-events.ts).

/** Pixie's content_type column: 0 unknown, 1 JSON, 2 gRPC. */
export const HttpContentType = { Unknown: 0, Json: 1, Grpc: 2 } as const;
export type HttpContentType = (typeof HttpContentType)[keyof typeof HttpContentType];

export interface HttpExchange {
  /** From the request line. */
  majorVersion: number;
  minorVersion: number;
  /** From the response's Content-Type, else the request's. */
  contentType: HttpContentType;
  reqMethod: string;
  /** Request target as sent (origin-form path + query, or absolute-form). */
  reqPath: string;
  /**
   * JSON object: header name as sent (first spelling) → value; repeated
   * headers (compared case-insensitively) are joined with ", ". Trailers are
   * not included.
   */
  reqHeaders: string;
  /** First maxBodyBytes of the decoded body (chunk framing removed), as UTF-8 text. */
  reqBody: string;
  /** Decoded body size in bytes, including bytes the kernel did not capture. */
  reqBodySize: number;
  respStatus: number;
  respMessage: string;
  respHeaders: string;
  respBody: string;
  respBodySize: number;
  /** CLOCK_MONOTONIC ns of the event that carried the first request byte. */
  reqStartNs: number;
  /** CLOCK_MONOTONIC ns of the event that carried the last response byte. */
  respEndNs: number;
  /** respEndNs - reqStartNs. */
  latencyNs: number;
}
