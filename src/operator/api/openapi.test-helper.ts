// The structural schema checker for unit tests that run without an API
// server; it lives in ./schema.validator.ts (which can also evaluate CEL).
// test/crds.test.ts covers the real API server.
export { checkSchema } from './schema.validator.ts';
