import { describe, it, expect } from '@jest/globals';
import {
  canaryReleaseName,
  isValidReleaseName,
  MAX_RELEASE_NAME,
  slugVersion,
} from '../../src/lib/release-name.js';

describe('slugVersion', () => {
  it.each([
    ['v1.2.3', 'v1-2-3'],
    ['abc1234', 'abc1234'],
    ['Feature/ABC_1', 'feature-abc-1'],
    ['--v1..2--', 'v1-2'],
    ['1.0.0+build.5', '1-0-0-build-5'],
    ['...', ''],
    ['ÄÖÜ', ''],
  ])('%s -> %s', (v, slug) => {
    expect(slugVersion(v)).toBe(slug);
  });

  it('truncates without a trailing dash', () => {
    expect(slugVersion('v1.2.3', 3)).toBe('v1');
    expect(slugVersion('v1.2.3', 4)).toBe('v1-2');
    expect(slugVersion('abc', 0)).toBe('');
  });
});

describe('isValidReleaseName', () => {
  it.each(['a', 'my-app', 'app1', '1app', 'a'.repeat(53)])('accepts %s', (n) => {
    expect(isValidReleaseName(n)).toBe(true);
  });
  it.each(['', 'My-App', 'my_app', '-app', 'app-', 'my.app', 'a'.repeat(54), 'my app'])('rejects %j', (n) => {
    expect(isValidReleaseName(n)).toBe(false);
  });
});

describe('canaryReleaseName', () => {
  it('joins release and slug', () => {
    expect(canaryReleaseName('my-app', 'v1.2.3')).toBe('my-app-v1-2-3');
  });

  it('keeps the whole name within 53 characters and valid', () => {
    const release = 'a'.repeat(40);
    const name = canaryReleaseName(release, 'v1.2.3-rc.1-with-a-long-suffix');
    expect(name.length).toBeLessThanOrEqual(MAX_RELEASE_NAME);
    expect(isValidReleaseName(name)).toBe(true);
    expect(name).toBe(`${release}-v1-2-3-rc-1`);
  });

  it('never ends with a dash after truncation', () => {
    const release = 'b'.repeat(47); // room for 5 slug chars: "v1-2-" -> "v1-2"
    expect(canaryReleaseName(release, 'v1.2.3')).toBe(`${release}-v1-2`);
  });

  it('rejects an empty slug, an invalid release and one without room', () => {
    expect(() => canaryReleaseName('app', '...')).toThrow('no letters or digits');
    expect(() => canaryReleaseName('App', 'v1')).toThrow('not a valid release name');
    expect(() => canaryReleaseName('a'.repeat(52), 'v1')).toThrow('no room');
  });
});
