/**
 * A guard in front of the site broker's MQTT parser: it follows the packet
 * framing (fixed header byte, remaining length as a 1–4 byte varint, body)
 * of the bytes a client sends and ends the connection as soon as a packet
 * announces more than `maxPacketBytes`, before any of it is buffered. The
 * parser aedes uses would otherwise collect a packet of any announced size
 * (up to 256 MiB) in memory. A remaining length longer than 4 bytes is
 * malformed and ends the connection too.
 */
import type { Socket } from 'node:net';

export type FrameProblem = { kind: 'oversized'; bytes: number } | { kind: 'malformed' };

/** Follows MQTT framing across chunks; `feed` returns the first problem seen. */
export class MqttFrameGuard {
  readonly #max: number;
  #state: 'header' | 'length' | 'body' = 'header';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #left = 0;

  constructor(maxPacketBytes: number) {
    this.#max = maxPacketBytes;
  }

  feed(chunk: Buffer): FrameProblem | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'header') {
        i++;
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
      } else if (this.#state === 'length') {
        const b = chunk[i++]!;
        this.#length += (b & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        if (++this.#lengthBytes > 4) return { kind: 'malformed' };
        if ((b & 0x80) === 0) {
          if (this.#length > this.#max) return { kind: 'oversized', bytes: this.#length };
          this.#left = this.#length;
          this.#state = this.#left === 0 ? 'header' : 'body';
        }
      } else {
        const take = Math.min(this.#left, chunk.length - i);
        i += take;
        this.#left -= take;
        if (this.#left === 0) this.#state = 'header';
      }
    }
    return undefined;
  }
}

/**
 * Puts the guard on the socket's read path, in place: every chunk the socket
 * receives is checked before it is queued for the broker's parser, which
 * keeps reading the socket itself (a wrapping stream costs a third of the
 * broker's QoS 1 throughput). Node's net sockets hand each read to
 * `socket.push`, which is wrapped here; the end-to-end test of the site
 * broker fails if that stops being the path. `onProblem` is called once,
 * then the socket is destroyed and nothing more is queued.
 */
export function guardSocket(socket: Socket, maxPacketBytes: number, onProblem: (p: FrameProblem) => void): Socket {
  const guard = new MqttFrameGuard(maxPacketBytes);
  const push = socket.push.bind(socket);
  let failed = false;
  socket.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk === null || !Buffer.isBuffer(chunk)) return push(chunk, encoding);
    if (failed) return false;
    const problem = guard.feed(chunk);
    if (problem) {
      failed = true;
      onProblem(problem);
      socket.destroy();
      return false;
    }
    return push(chunk, encoding);
  };
  return socket;
}
