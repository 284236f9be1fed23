import { describe, expect, it } from 'vitest';
import { createLogger } from '../core/kernel/index.ts';
import type { Reading } from '../core/sdk/index.ts';
import { ReadingFanout } from './reading-feed.ts';

const reading = (seq: number): Reading => ({ site: 's', device: 'd', profile: 'p', resource: 'r', value: seq, valueType: 'Int32', origin: seq, quality: 'good', seq });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the reading feed', () => {
  it('hands each stored batch to every listener, in order, on a later turn; a failing listener neither stops the others nor is dropped', async () => {
    const feed = new ReadingFanout(createLogger({ level: 'silent' }));
    expect(feed.listening).toBe(false);
    const a: number[] = [];
    const b: number[] = [];
    let throws = 0;
    feed.subscribe((rs) => a.push(...rs.map((r) => r.seq)));
    const offB = feed.subscribe((rs) => b.push(...rs.map((r) => r.seq)));
    feed.subscribe(() => {
      throws++;
      throw new Error('listener bug');
    });
    expect(feed.listening).toBe(true);
    feed.publish([reading(1), reading(2)]);
    expect(a).toEqual([]); // not on the caller's turn: a driver is never held up
    feed.publish([reading(3)]);
    await tick();
    expect(a).toEqual([1, 2, 3]);
    expect(b).toEqual([1, 2, 3]);
    expect(throws).toBe(2);
    offB();
    feed.publish([reading(4)]);
    offB(); // removing twice is harmless
    await tick();
    expect(a).toEqual([1, 2, 3, 4]);
    expect(b).toEqual([1, 2, 3]);
  });

  it('gives a listener nothing published before it subscribed, and nothing once it left, even if published before it left', async () => {
    const feed = new ReadingFanout(createLogger({ level: 'silent' }));
    feed.publish([reading(1)]);
    const got: number[] = [];
    const off = feed.subscribe((rs) => got.push(...rs.map((r) => r.seq)));
    feed.publish([reading(2)]);
    off();
    await tick();
    expect(got).toEqual([]);
  });
});
