import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { HistogramSet, HTTP_SERVER_DURATION } from './red.metrics.ts';

describe('HistogramSet', () => {
  it('renders cumulative Prometheus buckets, sum and count per series', () => {
    const h = new HistogramSet(HTTP_SERVER_DURATION, 10);
    h.observe('a', () => ['GET', '200', '/x'], 0.004);
    h.observe('a', () => ['GET', '200', '/x'], 0.2);
    const lines: string[] = [];
    h.renderPrometheus(lines, '');
    const labels = 'http_request_method="GET",http_response_status_code="200",http_route="/x"';
    assert.ok(lines.includes(`http_server_request_duration_seconds_bucket{${labels},le="0.005"} 1`));
    assert.ok(lines.includes(`http_server_request_duration_seconds_bucket{${labels},le="0.25"} 2`));
    assert.ok(lines.includes(`http_server_request_duration_seconds_bucket{${labels},le="+Inf"} 2`));
    assert.ok(lines.includes(`http_server_request_duration_seconds_count{${labels}} 2`));
  });

  it('refuses and counts observations past its series bound', () => {
    const h = new HistogramSet(HTTP_SERVER_DURATION, 1);
    assert.equal(h.observe('a', () => ['GET', '200', '/a'], 0.1), true);
    assert.equal(h.observe('b', () => ['GET', '200', '/b'], 0.1), false);
    assert.equal(h.overflowed, 1);
    assert.equal(h.series.size, 1);
  });

  it('escapes label values', () => {
    const h = new HistogramSet(HTTP_SERVER_DURATION, 1);
    h.observe('a', () => ['GET', '200', '/"quoted"\\'], 0.1);
    const lines: string[] = [];
    h.renderPrometheus(lines, '');
    assert.ok(lines.some((l) => l.includes('http_route="/\\"quoted\\"\\\\"')));
  });
});
