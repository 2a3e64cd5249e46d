import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { MAX_TEMPLATE_LENGTH, pathTemplate } from './path-template.ts';

describe('pathTemplate', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['', ''],
    ['/users/42', '/users/*'],
    ['/users/42/orders/7?expand=1#top', '/users/*/orders/*'],
    ['/orders/3f2a9c1e', '/orders/*'],
    ['/orders/123e4567-e89b-12d3-a456-426614174000/items', '/orders/*/items'],
    ['/files/01HF8Z2K9Q3V4W5X6Y7Z8A9B0C', '/files/*'],
    ['/reports/2024-01-31', '/reports/*'],
    ['/price/1.5', '/price/*'],
    ['/api/v2/users', '/api/v2/users'],
    ['/deadbeef', '/deadbeef'],
    ['/index.html', '/index.html'],
    ['/a1b2', '/a1b2'],
    ['/users//42/', '/users//*/'],
  ];
  for (const [path, template] of cases) {
    it(`maps ${JSON.stringify(path)} to ${JSON.stringify(template)}`, () => {
      assert.equal(pathTemplate(path), template);
    });
  }

  it('cuts long templates', () => {
    assert.equal(pathTemplate(`/${'segment/'.repeat(100)}`).length, MAX_TEMPLATE_LENGTH);
  });

  it('keeps non-ASCII words', () => {
    assert.equal(pathTemplate('/café/12'), '/café/*');
  });
});
