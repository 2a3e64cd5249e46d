// PIIRestricted masking: replaces values that look like personal data or
// credentials in captured payload text before rows are stored.
//
// Every function here is a single left-to-right scan with constant look-back:
// no regular expressions (no backtracking blow-ups on hostile payloads), each
// input character is examined a bounded number of times, so the cost is
// linear in the input length. Nothing throws on any string. When nothing is
// found the input string itself is returned (no allocation: the common case
// for most rows).
//
// What is masked (maskPii):
// - e-mail addresses → [EMAIL]
// - card numbers: 13–19 digits, optionally grouped by single spaces or
//   dashes, that pass the Luhn check → [CARD]
// - credentials after "Bearer" / "Basic" / "Token" → [TOKEN]
// - JWTs (eyJ….….) and long opaque secrets (≥ 24 characters of letters,
//   digits and + = _ -, with both letters and digits: API keys, hex or base64
//   secrets, UUIDs) → [TOKEN]
// - the value after a credential-like key (password, secret, token, api_key,
//   …) followed by = or : (query strings, form bodies, JSON) → [REDACTED]
// maskSqlLiterals replaces string and numeric literals of SQL text by ?,
// keeping keywords, identifiers, operators, comments and $n parameters.

export const MASK = Object.freeze({
  email: '[EMAIL]',
  card: '[CARD]',
  token: '[TOKEN]',
  redacted: '[REDACTED]',
  sqlLiteral: '?',
});

/** Opaque secrets at least this long are masked (shorter runs are too often words or ids). */
const MIN_SECRET_LENGTH = 24;
/** Longest key name compared against CREDENTIAL_KEYS. */
const MAX_KEY_LENGTH = 24;

// Character classes of ASCII codes (non-ASCII is in no class).
const ALPHA = 1;
const DIGIT = 2;
/** Characters of a "word": opaque tokens, e-mail local parts, key names. */
const WORD = 4;
/** Characters of a domain name after '@'. */
const DOMAIN = 8;
/** Characters of an opaque secret (base64, base64url, hex). */
const SECRET = 16;
/** Characters of a credential value after Bearer/Basic (base64 with '/', '.' for JWTs). */
const CREDENTIAL = 32;

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
  const digit = ch >= '0' && ch <= '9';
  let flags = 0;
  if (alpha) flags |= ALPHA;
  if (digit) flags |= DIGIT;
  // No '=': it separates a key from its value (base64 padding is added to a secret after the fact).
  if (alpha || digit || '._%+-~'.includes(ch)) flags |= WORD;
  if (alpha || digit || '.-'.includes(ch)) flags |= DOMAIN;
  if (alpha || digit || '+=_-'.includes(ch)) flags |= SECRET;
  if (alpha || digit || '+=_-./~'.includes(ch)) flags |= CREDENTIAL;
  CLASS[c] = flags;
}

function is(code: number, flag: number): boolean {
  return code < 128 && (CLASS[code]! & flag) !== 0;
}

/** Lower-case key names whose values are credentials (compared with _ and - removed). */
const CREDENTIAL_KEYS = new Set([
  'password', 'passwd', 'pwd', 'pass', 'secret', 'clientsecret', 'token', 'accesstoken', 'refreshtoken', 'idtoken',
  'apikey', 'apitoken', 'authtoken', 'auth', 'authorization', 'sessionid', 'session', 'sid', 'privatekey', 'credential',
  'credentials', 'creditcard', 'cardnumber', 'cvv', 'cvc', 'ssn',
]);

/** Schemes whose following word is a credential (lower case). */
const AUTH_SCHEMES = new Set(['bearer', 'basic', 'token']);

/** Collects the output only once something is masked. */
class Rewriter {
  private parts: string[] | null = null;
  private last = 0;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  replace(start: number, end: number, replacement: string): void {
    this.parts ??= [];
    if (start > this.last) this.parts.push(this.text.slice(this.last, start));
    this.parts.push(replacement);
    this.last = end;
  }

  result(): string {
    if (this.parts === null) return this.text;
    if (this.last < this.text.length) this.parts.push(this.text.slice(this.last));
    return this.parts.join('');
  }
}

/** Masks personal data and credentials in free text (bodies, header values, paths, arguments). */
export function maskPii(text: string): string {
  const n = text.length;
  const out = new Rewriter(text);
  /** Digits before this index were already judged as (not) part of a card number. */
  let cardCheckedUntil = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (is(c, DIGIT) && i >= cardCheckedUntil && (i === 0 || !is(text.charCodeAt(i - 1), ALPHA | DIGIT))) {
      const end = cardEnd(text, i);
      cardCheckedUntil = end < 0 ? -end : end;
      if (end > 0) {
        out.replace(i, end, MASK.card);
        i = end;
        continue;
      }
    }
    if (!is(c, WORD)) {
      i++;
      continue;
    }
    let end = i + 1;
    while (end < n && is(text.charCodeAt(end), WORD)) end++;
    // local@domain: the word is the local part.
    if (end < n && text.charCodeAt(end) === 64 /* @ */) {
      const domainEnd = emailDomainEnd(text, end + 1);
      if (domainEnd > 0) {
        out.replace(i, domainEnd, MASK.email);
        i = domainEnd;
        continue;
      }
    }
    const after = credentialAfter(text, i, end);
    if (after !== null) {
      out.replace(after[0], after[1], after[2]);
      i = after[1];
      continue;
    }
    if (isJwt(text, i, end) || isSecret(text, i, end)) {
      while (end < n && text.charCodeAt(end) === 61 /* = padding */) end++;
      out.replace(i, end, MASK.token);
    }
    i = end;
  }
  return out.result();
}

/**
 * From a digit at `start` (not preceded by a letter or digit): the end of a
 * card number there, or minus the end of the span judged (so it is not
 * judged again) when there is none. A span is digits with single spaces or
 * dashes between them.
 */
function cardEnd(text: string, start: number): number {
  const n = text.length;
  let digits = 0;
  let end = start;
  let i = start;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (is(c, DIGIT)) {
      digits++;
      i++;
      end = i;
      continue;
    }
    if ((c === 32 || c === 45) && i + 1 < n && is(text.charCodeAt(i + 1), DIGIT)) {
      i++;
      continue;
    }
    break;
  }
  if (digits < 13 || digits > 19) return -Math.max(end, start + 1);
  if (end < n && is(text.charCodeAt(end), ALPHA)) return -end;
  // Luhn: from the rightmost digit, double every second one.
  let sum = 0;
  let double = false;
  for (let k = end - 1; k >= start; k--) {
    const c = text.charCodeAt(k);
    if (!is(c, DIGIT)) continue;
    let d = c - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0 ? end : -end;
}

/** End of a domain name starting at `start` (labels, at least one dot, a top-level label of ≥ 2 letters), or -1. */
function emailDomainEnd(text: string, start: number): number {
  const n = text.length;
  let end = start;
  while (end < n && is(text.charCodeAt(end), DOMAIN)) end++;
  while (end > start && text.charCodeAt(end - 1) === 46 /* . */) end--;
  let lastDot = end - 1;
  while (lastDot > start && text.charCodeAt(lastDot) !== 46) lastDot--;
  if (lastDot <= start || lastDot >= end - 2) return -1;
  for (let k = lastDot + 1; k < end; k++) if (!is(text.charCodeAt(k), ALPHA)) return -1;
  return end;
}

/**
 * When the word [start, end) is an auth scheme or a credential key: the span
 * of the credential that follows and its replacement, else null.
 */
function credentialAfter(text: string, start: number, end: number): [number, number, string] | null {
  const length = end - start;
  if (length > MAX_KEY_LENGTH || length < 3) return null;
  const n = text.length;
  let key = '';
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c === 95 || c === 45) continue;
    if (!is(c, ALPHA)) return null;
    key += String.fromCharCode(c | 0x20);
  }
  if (AUTH_SCHEMES.has(key) && end < n && text.charCodeAt(end) === 32) {
    let valueStart = end;
    while (valueStart < n && text.charCodeAt(valueStart) === 32) valueStart++;
    let valueEnd = valueStart;
    while (valueEnd < n && is(text.charCodeAt(valueEnd), CREDENTIAL)) valueEnd++;
    // "token" as a plain word in prose: only a credential-looking value counts.
    if (valueEnd - valueStart >= 8) return [valueStart, valueEnd, MASK.token];
    return null;
  }
  if (!CREDENTIAL_KEYS.has(key)) return null;
  // key, optional closing quote, optional spaces, = or :, optional spaces, optional opening quote.
  let k = end;
  if (k < n && (text.charCodeAt(k) === 34 || text.charCodeAt(k) === 39)) k++;
  while (k < n && text.charCodeAt(k) === 32) k++;
  if (k >= n || (text.charCodeAt(k) !== 61 && text.charCodeAt(k) !== 58)) return null;
  k++;
  while (k < n && text.charCodeAt(k) === 32) k++;
  let quote = -1;
  if (k < n && (text.charCodeAt(k) === 34 || text.charCodeAt(k) === 39)) quote = text.charCodeAt(k++);
  const valueStart = k;
  while (k < n) {
    const c = text.charCodeAt(k);
    if (quote >= 0 ? c === quote || c === 92 : isValueDelimiter(c)) break;
    k++;
  }
  // "Authorization: Bearer …": the scheme stays, the main loop masks the credential after it.
  if (quote < 0 && k < n && text.charCodeAt(k) === 32 && k - valueStart <= 6 && AUTH_SCHEMES.has(text.slice(valueStart, k).toLowerCase())) return null;
  if (quote >= 0 && k < n && text.charCodeAt(k) === 92) {
    // An escaped quote inside the value: mask through the closing quote.
    while (k < n && text.charCodeAt(k) !== quote) k += text.charCodeAt(k) === 92 ? 2 : 1;
    k = Math.min(k, n);
  }
  if (k === valueStart) return null;
  return [valueStart, k, MASK.redacted];
}

/** Ends an unquoted credential value: & , ; space } newline, and quotes or \ (the value sits inside a quoted string). */
function isValueDelimiter(c: number): boolean {
  return c === 38 || c === 44 || c === 59 || c === 32 || c === 125 || c === 10 || c === 13 || c === 34 || c === 39 || c === 92 || c === 9;
}

/** eyJ<base64url>.<base64url>.<base64url> (the signature may be empty for alg none). */
function isJwt(text: string, start: number, end: number): boolean {
  if (end - start < 16 || !text.startsWith('eyJ', start)) return false;
  let dots = 0;
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (c === 46) dots++;
    else if (!is(c, ALPHA | DIGIT) && c !== 45 && c !== 95 && c !== 61) return false;
  }
  return dots === 2;
}

/** A long run of secret characters mixing letters and digits. */
function isSecret(text: string, start: number, end: number): boolean {
  if (end - start < MIN_SECRET_LENGTH) return false;
  let letters = 0;
  let digits = 0;
  for (let k = start; k < end; k++) {
    const c = text.charCodeAt(k);
    if (!is(c, SECRET)) return false;
    if (is(c, ALPHA)) letters++;
    else if (is(c, DIGIT)) digits++;
  }
  return letters > 0 && digits > 0;
}

export interface SqlDialect {
  /** MySQL: "…" is a string and \ escapes in strings. PostgreSQL: "…" is an identifier; \ escapes only in E'…'. */
  readonly mysql: boolean;
}

/** Marker the pgsql and mysql sessions put before the bound values of a prepared statement. */
const PARAMETERS = ' PARAMETERS: ';

/**
 * Replaces SQL literals by `?`: quoted strings ('…', E'…', $tag$…$tag$, and
 * "…" in MySQL), numbers (decimal, exponent, 0x hex) and the bound values a
 * session appended after " PARAMETERS: ". Keeps keywords, identifiers
 * (quoted ones too), operators, comments and $n placeholders. Unterminated
 * literals are masked to the end (cut SQL text).
 */
export function maskSqlLiterals(sql: string, dialect: SqlDialect): string {
  const out = new Rewriter(sql);
  let n = sql.length;
  const params = sql.indexOf(PARAMETERS);
  if (params >= 0) n = params;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // Comments.
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 || eol > n ? n : eol;
      continue;
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 || close > n ? n : close + 2;
      continue;
    }
    // Identifiers and keywords (E'…', X'…', B'…', N'…' prefixes are part of the literal).
    if (is(c, ALPHA) || c === 95 || c >= 128) {
      let end = i + 1;
      while (end < n && (is(sql.charCodeAt(end), ALPHA | DIGIT) || sql.charCodeAt(end) === 95 || sql.charCodeAt(end) === 36 || sql.charCodeAt(end) >= 128)) end++;
      if (end === i + 1 && end < n && sql.charCodeAt(end) === 39 && 'eEbBxXnN'.includes(sql[i]!)) {
        const close = quotedEnd(sql, end, n, 39, dialect.mysql || c === 69 || c === 101);
        out.replace(i, close, MASK.sqlLiteral);
        i = close;
        continue;
      }
      i = end;
      continue;
    }
    if (c === 39 || (c === 34 && dialect.mysql)) {
      const close = quotedEnd(sql, i, n, c, dialect.mysql);
      out.replace(i, close, MASK.sqlLiteral);
      i = close;
      continue;
    }
    if (c === 34 || c === 96) {
      // Quoted identifier: kept.
      i = quotedEnd(sql, i, n, c, false);
      continue;
    }
    if (c === 36) {
      // $1 placeholder (kept) or $tag$…$tag$ string (masked).
      let end = i + 1;
      if (end < n && is(sql.charCodeAt(end), DIGIT)) {
        while (end < n && is(sql.charCodeAt(end), DIGIT)) end++;
        i = end;
        continue;
      }
      while (end < n && (is(sql.charCodeAt(end), ALPHA | DIGIT) || sql.charCodeAt(end) === 95)) end++;
      // Tags are short; a bound keeps the closing-tag search linear.
      if (end < n && sql.charCodeAt(end) === 36 && end - i <= 64) {
        const tag = sql.slice(i, end + 1);
        const close = sql.indexOf(tag, end + 1);
        const stop = close < 0 || close + tag.length > n ? n : close + tag.length;
        out.replace(i, stop, MASK.sqlLiteral);
        i = stop;
        continue;
      }
      i = end;
      continue;
    }
    if (is(c, DIGIT) || (c === 46 && i + 1 < n && is(sql.charCodeAt(i + 1), DIGIT))) {
      let end = i + 1;
      if (c === 48 && (sql.charCodeAt(end) === 120 || sql.charCodeAt(end) === 88)) {
        end++;
        while (end < n && (is(sql.charCodeAt(end), DIGIT) || 'abcdefABCDEF'.includes(sql[end]!))) end++;
      } else {
        while (end < n && (is(sql.charCodeAt(end), DIGIT) || sql.charCodeAt(end) === 46)) end++;
        if (end < n && (sql.charCodeAt(end) === 101 || sql.charCodeAt(end) === 69)) {
          let k = end + 1;
          if (k < n && (sql.charCodeAt(k) === 43 || sql.charCodeAt(k) === 45)) k++;
          if (k < n && is(sql.charCodeAt(k), DIGIT)) {
            while (k < n && is(sql.charCodeAt(k), DIGIT)) k++;
            end = k;
          }
        }
      }
      out.replace(i, end, MASK.sqlLiteral);
      i = end;
      continue;
    }
    i++;
  }
  if (params >= 0) out.replace(params, sql.length, `${PARAMETERS}[${MASK.sqlLiteral}]`);
  return out.result();
}

/** End (exclusive) of a literal quoted by `quote` opening at `open`; a doubled quote is an escaped quote. */
function quotedEnd(sql: string, open: number, n: number, quote: number, backslashEscapes: boolean): number {
  let k = open + 1;
  while (k < n) {
    const c = sql.charCodeAt(k);
    if (backslashEscapes && c === 92) {
      k += 2;
      continue;
    }
    if (c === quote) {
      if (k + 1 < n && sql.charCodeAt(k + 1) === quote) {
        k += 2;
        continue;
      }
      return k + 1;
    }
    k++;
  }
  return n;
}

/**
 * Header names whose values are kept as captured under PIIRestricted: they
 * describe the exchange, not the person (lower case).
 */
export const SAFE_HEADERS: ReadonlySet<string> = new Set([
  'accept', 'accept-encoding', 'accept-language', 'accept-ranges', 'age', 'cache-control', 'connection',
  'content-encoding', 'content-language', 'content-length', 'content-type', 'date', 'etag', 'expires', 'host',
  'keep-alive', 'last-modified', 'server', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'traceparent', 'tracestate', 'x-request-id', 'grpc-status', 'grpc-message', 'grpc-encoding', 'te', 'pragma',
  ':method', ':path', ':scheme', ':authority', ':status',
]);

/** Header names whose values are credentials: replaced whole (lower case). */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'x-auth-token',
  'x-access-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token', 'x-goog-api-key',
]);

/**
 * Masks a headers column (a flat JSON object of strings, as the HTTP
 * sessions write it): credential headers → [REDACTED], safe headers kept,
 * every other value through maskPii. Text that is not such an object is
 * replaced by "{}" (fails closed).
 */
export function maskHeadersJson(json: string): string {
  const n = json.length;
  if (n < 2 || json.charCodeAt(0) !== 123) return '{}';
  const out = new Rewriter(json);
  let i = 1;
  while (i < n && json.charCodeAt(i) === 32) i++;
  if (json.charCodeAt(i) === 125) return json;
  for (;;) {
    const keyEnd = jsonStringEnd(json, i);
    if (keyEnd < 0 || json.charCodeAt(keyEnd) !== 58) return '{}';
    const valueStart = keyEnd + 1;
    const valueEnd = jsonStringEnd(json, valueStart);
    if (valueEnd < 0) return '{}';
    const name = json.slice(i + 1, keyEnd - 1).toLowerCase();
    if (CREDENTIAL_HEADERS.has(name)) {
      out.replace(valueStart + 1, valueEnd - 1, MASK.redacted);
    } else if (!SAFE_HEADERS.has(name)) {
      const raw = json.slice(valueStart + 1, valueEnd - 1);
      if (raw.includes('\\')) {
        // Escapes: mask the decoded value and encode it again, so a masked span never splits an escape.
        let value: string;
        try {
          value = JSON.parse(json.slice(valueStart, valueEnd)) as string;
        } catch {
          return '{}';
        }
        const masked = maskPii(value);
        if (masked !== value) out.replace(valueStart, valueEnd, JSON.stringify(masked));
      } else {
        const masked = maskPii(raw);
        if (masked !== raw) out.replace(valueStart + 1, valueEnd - 1, masked);
      }
    }
    const next = json.charCodeAt(valueEnd);
    if (next === 125) return out.result();
    if (next !== 44) return '{}';
    i = valueEnd + 1;
  }
}

/** From an opening quote at `start`: the index after the closing quote, or -1. */
function jsonStringEnd(json: string, start: number): number {
  if (json.charCodeAt(start) !== 34) return -1;
  let k = start + 1;
  const n = json.length;
  while (k < n) {
    const c = json.charCodeAt(k);
    if (c === 92) {
      k += 2;
      continue;
    }
    if (c === 34) return k + 1;
    k++;
  }
  return -1;
}

/** A request target under PIIRestricted: the path through maskPii, query values too (keys kept). */
export function maskRequestPath(path: string): string {
  return maskPii(path);
}

/** A request target under Restricted: the query string is removed (values are arguments). */
export function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
