/** The progress display: plain `[ok]` lines off a terminal, spinner redraws and marks on one. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { steps } from './progress.ts';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('steps', () => {
  it('writes one plain line per step, with its note, and passes values through', async () => {
    const out = sink();
    const p = steps({ stream: out.stream, tty: false });
    const v = await p.step('Create the CA', (s) => {
      s.note('kept');
      return 42;
    });
    await p.step('Start systemd unit', (s) => s.skip('no systemctl'));
    await p.step('Write the context', async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    expect(v).toBe(42);
    expect(out.text()).toBe('[ok] Create the CA (kept)\n[skip] Start systemd unit (no systemctl)\n[ok] Write the context\n');
  });

  it('marks a failed step and rethrows its error unchanged', async () => {
    const out = sink();
    const boom = new Error('disk full');
    await expect(steps({ stream: out.stream, tty: false }).step('Write files', () => Promise.reject(boom))).rejects.toBe(boom);
    expect(out.text()).toBe('[fail] Write files\n');
  });

  it('on a terminal, spins while the step runs and ends the line with a mark', async () => {
    const out = sink();
    const p = steps({ stream: out.stream, tty: true });
    await p.step('Start the hub', async (s) => {
      await new Promise((r) => setTimeout(r, 200));
      s.note('https://127.0.0.1:7443');
    });
    const text = out.text();
    // At least one redraw between the first frame and the end.
    expect(text.split('\r\x1b[K').length).toBeGreaterThan(2);
    expect(text.endsWith('\r\x1b[K\x1b[32m✔\x1b[0m Start the hub (https://127.0.0.1:7443)\n')).toBe(true);
    await expect(p.step('Fail', () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect(out.text()).toContain('\x1b[31m✖\x1b[0m Fail\n');
  });
});
