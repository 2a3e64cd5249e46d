import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { builtinTables } from '../tables/index.ts';
import { compileScript, QueryError } from './index.ts';

const catalog = { getTable: (name: string) => builtinTables.get(name) };

function refusal(source: string): QueryError {
  const started = performance.now();
  try {
    compileScript(source, catalog, { nowNs: 1n });
  } catch (error) {
    assert.ok(error instanceof QueryError, `not a QueryError: ${String(error)}`);
    assert.ok(performance.now() - started < 5000, 'refused in bounded time');
    return error;
  }
  assert.fail('compiled a script that should be refused');
}

describe('hostile scripts', () => {
  it('refuses an integer literal beyond int64 at its position', () => {
    const error = refusal(`import px\ndf = px.DataFrame('http_events')\npx.display(df[df.latency > ${'9'.repeat(500)}])`);
    assert.deepEqual([error.line, error.column], [3, 28]);
  });

  it('stops runaway recursion with line and column', () => {
    const error = refusal('import px\ndef f(x):\n    return f(x)\npx.display(f(1))');
    assert.match(error.toString(), /^3:\d+: f: calls nested more than 64 deep/);
  });

  it('refuses absurd nesting as a syntax error instead of overflowing the stack', () => {
    assert.equal(refusal(`import px\nx = ${'('.repeat(20000)}1${')'.repeat(20000)}\n`).line, 2);
    assert.equal(refusal(`import px\nx = ${Array(20000).fill('1').join(' + ')}\n`).line, 2);
  });

  it('names the arity a method accepts', () => {
    assert.match(refusal("import px\npx.display(px.DataFrame('http_events').head(1, 2, 3))").toString(), /^2:\d+: head takes at most 1 argument/);
  });

  it('compiles a long literal that fits the script bound', () => {
    const compiled = compileScript(`import px\ndf = px.DataFrame('http_events')\npx.display(df[df.req_path == '${'a'.repeat(900_000)}'])`, catalog, { nowNs: 1n });
    assert.equal(compiled.outputs.length, 1);
  });
});
