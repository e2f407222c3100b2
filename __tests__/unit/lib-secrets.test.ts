import { describe, it, expect } from '@jest/globals';
import { isMaskable, REDACTED, SecretRegistry } from '../../src/lib/secrets.js';

describe('isMaskable: the one rule for what is too short or harmless to mask', () => {
  it.each(['', 'abc', 'true', 'FALSE', 'null', '~', '80', '123456'])('%j is not masked', (v) => {
    expect(isMaskable(v)).toBe(false);
  });
  it.each(['abcd', 'hunter2', '1234567', 'truely', 'v1.2.3'])('%j is masked', (v) => {
    expect(isMaskable(v)).toBe(true);
  });
});

describe('SecretRegistry', () => {
  it('keeps each value once, trimmed, with its source, and ignores what the rule rejects', () => {
    const r = new SecretRegistry();
    expect(r.add('  hunter2 ', 'set')).toBe(true);
    expect(r.add('hunter2', 'kubeconfig')).toBe(false);
    expect(r.add('true')).toBe(false);
    expect(r.add(undefined)).toBe(false);
    r.addAll(['ab', 'token-1'], 'github-token');
    expect(r.values()).toEqual(['hunter2', 'token-1']);
    expect(r.sourceOf('hunter2')).toBe('set');
    expect(r.sourceOf('token-1')).toBe('github-token');
    expect(r.size).toBe(2);
  });

  it('tells a listener every value, those registered before it too, until removed', () => {
    const r = new SecretRegistry();
    r.add('early-secret', 'set');
    const seen: Array<[string, string]> = [];
    const off = r.onAdd((v, source) => seen.push([v, source]));
    r.add('late-secret', 'kubeconfig');
    r.add('late-secret'); // already known: not told again
    off();
    r.add('after-removal');
    expect(seen).toEqual([
      ['early-secret', 'set'],
      ['late-secret', 'kubeconfig'],
    ]);
  });

  it('redacts the value and its Markdown-escaped, JSON-escaped and URI-encoded forms', () => {
    const secret = 'a*b_c|"d"/e f';
    const r = new SecretRegistry();
    r.add(secret);
    const forms = [secret, 'a\\*b\\_c\\|"d"/e f', 'a*b_c|\\"d\\"/e f', encodeURIComponent(secret)];
    for (const f of forms) expect(r.redact(`x ${f} y`)).toBe(`x ${REDACTED} y`);
  });

  it('replaces a secret that contains another one whole', () => {
    const r = new SecretRegistry();
    r.addAll(['pass', 'db.password=pass-word']);
    expect(r.redact('set db.password=pass-word and pass')).toBe('set *** and ***');
  });

  it('leaves text without secrets alone', () => {
    const r = new SecretRegistry();
    r.add('hunter2');
    expect(r.redact('replicas 3 ok')).toBe('replicas 3 ok');
    expect(new SecretRegistry().redact('a hunter2 b')).toBe('a hunter2 b');
  });

  it('never serialises its values', () => {
    const r = new SecretRegistry();
    r.add('hunter2-in-json');
    expect(JSON.stringify({ secrets: r })).not.toContain('hunter2');
    expect(JSON.stringify({ secrets: r })).toContain('1 values');
  });
});
