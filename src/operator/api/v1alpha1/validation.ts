// Pure parsing and validation helpers shared by the kinds' validators and the
// operator: quantities, durations, label selectors. They never throw on bad
// input; they append a Problem and return undefined.
import type { LabelSelector, Problem } from './common.types.ts';

import { parseDurationMs, parseQuantityBytes } from '../../../common/units.ts';

export { parseDurationMs, parseQuantityBytes };

/** Parse a quantity at `field`, appending a Problem when it is malformed. */
export function validateQuantity(value: string | number, field: string, problems: Problem[]): number | undefined {
  const bytes = parseQuantityBytes(value);
  if (bytes === undefined) {
    problems.push({ field, reason: 'InvalidQuantity', message: `${field} ${JSON.stringify(value)} is not a non-negative quantity such as 256Mi` });
  }
  return bytes;
}

/** Parse a duration at `field`, appending a Problem when it is malformed. */
export function validateDuration(value: string, field: string, problems: Problem[]): number | undefined {
  const ms = parseDurationMs(value);
  if (ms === undefined) {
    problems.push({ field, reason: 'InvalidDuration', message: `${field} ${JSON.stringify(value)} is not a duration such as 30s, 5m or 7d` });
  }
  return ms;
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `key` is a qualified label key: optional DNS-subdomain prefix (≤253) + `/` + name (≤63). */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !PREFIX.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && NAME.test(name);
}

/**
 * Check what the CRD schema leaves to the operator in a label selector: key
 * syntax (the API server's CRD validation does not parse label keys).
 */
export function validateLabelSelector(selector: LabelSelector, field: string, problems: Problem[]): void {
  for (const key of Object.keys(selector.matchLabels ?? {})) {
    if (!isLabelKey(key)) {
      problems.push({ field: `${field}.matchLabels`, reason: 'InvalidLabelKey', message: `label key ${JSON.stringify(key)} is not a valid qualified name (prefix/name, name ≤ 63 characters)` });
    }
  }
  (selector.matchExpressions ?? []).forEach((expression, i) => {
    if (!isLabelKey(expression.key)) {
      problems.push({ field: `${field}.matchExpressions[${i}].key`, reason: 'InvalidLabelKey', message: `label key ${JSON.stringify(expression.key)} is not a valid qualified name (prefix/name, name ≤ 63 characters)` });
    }
  });
}
