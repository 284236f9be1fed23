/** Label selector parsing and matching, and the coded error a bad selector raises. */
import { describe, expect, it } from 'vitest';
import { matchesLabelSelector, parseLabelSelector, selectorFromMatchLabels, StoreErrors } from './index.ts';

const labels = { env: 'prod', tier: 'web', 'edgeadm.io/zone': 'north', empty: '' };

function failure(selector: string): { code: string; message: string } {
  try {
    parseLabelSelector(selector);
  } catch (err) {
    expect(StoreErrors.ErrSelector.is(err)).toBe(true);
    return err as { code: string; message: string };
  }
  throw new Error(`expected '${selector}' to be rejected`);
}

describe('label selectors', () => {
  it('parses every operator', () => {
    expect(parseLabelSelector('a=b, c==d,e!=f, g in (x, y),h notin (z),i,!j').requirements).toEqual([
      { key: 'a', operator: 'Equals', values: ['b'] },
      { key: 'c', operator: 'Equals', values: ['d'] },
      { key: 'e', operator: 'NotEquals', values: ['f'] },
      { key: 'g', operator: 'In', values: ['x', 'y'] },
      { key: 'h', operator: 'NotIn', values: ['z'] },
      { key: 'i', operator: 'Exists', values: [] },
      { key: 'j', operator: 'DoesNotExist', values: [] },
    ]);
    expect(parseLabelSelector('').requirements).toEqual([]);
    expect(parseLabelSelector('  ').requirements).toEqual([]);
  });

  it.each([
    ['', true],
    ['env=prod', true],
    ['env==prod', true],
    ['env=dev', false],
    ['env!=dev', true],
    ['env!=prod', false],
    ['missing!=x', true],
    ['env in (dev, prod)', true],
    ['env in (dev)', false],
    ['missing in (x)', false],
    ['env notin (dev)', true],
    ['env notin (prod,dev)', false],
    ['missing notin (x)', true],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['edgeadm.io/zone=north', true],
    ['empty=', true],
    ['env=prod,tier=web', true],
    ['env=prod,tier=db', false],
    ['env=prod,!missing,tier in (web,api),edgeadm.io/zone', true],
  ])('%s matches: %s', (selector, expected) => {
    expect(matchesLabelSelector(selector, labels)).toBe(expected);
  });

  it('treats absent labels as an empty set', () => {
    expect(matchesLabelSelector('!a', undefined)).toBe(true);
    expect(matchesLabelSelector('a', undefined)).toBe(false);
    expect(matchesLabelSelector('a!=b', undefined)).toBe(true);
  });

  it.each([
    ['env=prod,', 'ends with a comma'],
    [',env', 'expected a label key'],
    ['env in x', "expected '('"],
    ['env in ()', 'expected a value'],
    ['env in (a b)', "expected ',' or ')'"],
    ['env = prod = x', "expected ','"],
    ['env prod', "expected one of '=', '==', '!=', 'in', 'notin'"],
    ['Env_-=x', 'name part must consist of'],
    ['env=-bad', 'value'],
    ['env=a;b', "unexpected character ';'"],
    ['Bad.Prefix/key=x', "prefix 'Bad.Prefix'"],
    ['!', 'expected a label key'],
  ])('rejects %s with a coded error naming the selector', (selector, reason) => {
    const err = failure(selector);
    expect(err.code).toBe('EDGE_ERR_STORE_SELECTOR');
    expect(err.message).toContain(`'${selector}'`);
    expect(err.message).toContain(reason);
  });

  it('builds a selector from matchLabels', () => {
    const s = selectorFromMatchLabels({ region: 'eu', tier: 'edge' });
    expect(s.matches({ region: 'eu', tier: 'edge', x: 'y' })).toBe(true);
    expect(s.matches({ region: 'eu' })).toBe(false);
    expect(selectorFromMatchLabels({}).matches({})).toBe(true);
    expect(() => selectorFromMatchLabels({ 'bad key': 'x' })).toThrow(/EDGE_ERR_STORE_SELECTOR|bad key/);
  });
});
