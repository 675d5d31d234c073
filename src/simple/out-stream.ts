/**
 * OutStream: the Writable returned by `connection.beginBinary()`. Everything written to it
 * becomes one binary message, sent as a sequence of fragments (RFC 6455 section 5.4) of at
 * least `setBinaryFragmentation()` bytes each; `end()` sends the final fragment.
 */
import { Writable } from 'node:stream';
import { binaryFragmentation } from './settings.js';

/** Sends one fragment; `fin` marks the last one. `cb` runs once it is written out. */
export type SendFragment = (data: Buffer, fin: boolean, cb: (err?: Error | null) => void) => void;

export class OutStream extends Writable {
  readonly #sendFragment: SendFragment;
  readonly #abort: () => void;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #fragmentsSent = 0;
  #finished = false;

  /**
   * @param sendFragment writes one fragment to the connection
   * @param abort called when the stream is destroyed after part of the message went out,
   *   since the message can then never be completed
   */
  constructor(sendFragment: SendFragment, abort: () => void) {
    super({ decodeStrings: true });
    this.#sendFragment = sendFragment;
    this.#abort = abort;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes >= binaryFragmentation()) this.#flush(false, callback);
    else callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#flush(true, (err) => {
      this.#finished = true;
      callback(err);
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.#finished && this.#fragmentsSent > 0) this.#abort();
    this.#chunks = [];
    callback(err);
  }

  #flush(fin: boolean, callback: (err?: Error | null) => void): void {
    const data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [];
    this.#bytes = 0;
    this.#fragmentsSent++;
    this.#sendFragment(data, fin, (err) => callback(err ?? null));
  }
}
