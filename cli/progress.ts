/**
 * A progress display for commands with long steps: on a terminal, each step
 * shows a spinner on standard error, then a check mark (or a cross) with a
 * short note; otherwise plain lines (`[ok] step (note)`) that read well in
 * logs and CI. Standard output stays free for what scripts read.
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 80;

/** What a running step may say about itself. */
export interface StepHandle {
  /** A short note shown after the title when the step ends, e.g. `kept` or a file name. */
  note(text: string): void;
  /** Ends the step as skipped (shown as `[skip]`), with the reason as its note. */
  skip(reason: string): void;
}

export interface Progress {
  /** Runs one step; a failure marks the step's line and is rethrown. */
  step<T>(title: string, run: (s: StepHandle) => Promise<T> | T): Promise<T>;
}

export interface ProgressOptions {
  /** Where the display goes (default: standard error). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Spinners or plain lines (default: whether `stream` is a terminal). */
  tty?: boolean;
}

export function steps(o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  const tty = o.tty ?? Boolean(stream.isTTY);
  return {
    async step<T>(title: string, run: (s: StepHandle) => Promise<T> | T): Promise<T> {
      let note: string | undefined;
      let skipped = false;
      const handle: StepHandle = {
        note: (text) => {
          note = text;
        },
        skip: (reason) => {
          skipped = true;
          note = reason;
        },
      };
      let frame = 0;
      let timer: NodeJS.Timeout | undefined;
      if (tty) {
        stream.write(`${FRAMES[0]} ${title}`);
        timer = setInterval(() => {
          frame = (frame + 1) % FRAMES.length;
          stream.write(`\r\x1b[K${FRAMES[frame]} ${title}`);
        }, FRAME_MS);
        timer.unref();
      }
      const finish = (mark: 'ok' | 'skip' | 'fail', detail?: string): void => {
        if (timer) clearInterval(timer);
        const suffix = detail ? ` (${detail})` : '';
        if (tty) {
          const symbol = mark === 'ok' ? '\x1b[32m✔\x1b[0m' : mark === 'skip' ? '\x1b[33m-\x1b[0m' : '\x1b[31m✖\x1b[0m';
          stream.write(`\r\x1b[K${symbol} ${title}${suffix}\n`);
        } else {
          stream.write(`[${mark}] ${title}${suffix}\n`);
        }
      };
      try {
        const value = await run(handle);
        finish(skipped ? 'skip' : 'ok', note);
        return value;
      } catch (err) {
        // The error itself is reported once, by the command's caller.
        finish('fail');
        throw err;
      }
    },
  };
}
