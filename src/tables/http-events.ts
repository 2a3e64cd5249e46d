import { defineTable } from './schema.ts';
import { connectionColumns } from './common-columns.ts';

/** Pixie's http_events (HTTP/1.x now; HTTP/2 and gRPC share it with major_version 2). */
export const httpEvents = defineTable({
  name: 'http_events',
  description: 'HTTP requests with their responses, one row per request/response pair.',
  columns: [
    ...connectionColumns,
    { name: 'major_version', type: 'int64', description: 'HTTP major version (1 or 2).' },
    { name: 'minor_version', type: 'int64', description: 'HTTP minor version (0 or 1).' },
    { name: 'content_type', type: 'int64', description: 'Body content type: 0 unknown, 1 JSON, 2 gRPC.' },
    { name: 'req_headers', type: 'string', description: 'Request headers as a JSON object.' },
    { name: 'req_method', type: 'string', description: 'Request method.', dictionary: true },
    { name: 'req_path', type: 'string', description: 'Request target (path and query).' },
    { name: 'req_body', type: 'string', description: 'Request body, cut at the body capture limit.' },
    { name: 'req_body_size', type: 'int64', description: 'Request body size in bytes before cutting.' },
    { name: 'resp_headers', type: 'string', description: 'Response headers as a JSON object.' },
    { name: 'resp_status', type: 'int64', description: 'Response status code.' },
    { name: 'resp_message', type: 'string', description: 'Response reason phrase.', dictionary: true },
    { name: 'resp_body', type: 'string', description: 'Response body, cut at the body capture limit.' },
    { name: 'resp_body_size', type: 'int64', description: 'Response body size in bytes before cutting.' },
    { name: 'latency', type: 'int64', description: 'Nanoseconds from the first request byte to the last response byte.' },
  ],
});
