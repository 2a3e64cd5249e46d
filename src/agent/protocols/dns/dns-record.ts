// One DNS query paired with its response: the record the DNS session (TCP)
// and the datagram pairer (UDP) emit and dns_events stores
// (src/tables/dns-events.ts). JSON shapes: dns.parser.ts.

export interface DnsRecord {
  reqHeader: string;
  reqBody: string;
  respHeader: string;
  respBody: string;
  /** CLOCK_MONOTONIC ns of the event that carried the query (its first byte over TCP). */
  reqStartNs: number;
  /** CLOCK_MONOTONIC ns of the event that carried the response (its last byte over TCP). */
  respEndNs: number;
  /** respEndNs - reqStartNs. */
  latencyNs: number;
}
