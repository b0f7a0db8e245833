/**
 * A size limit on MQTT packets for the embedded broker, which has none of its own: aedes buffers a
 * packet whole before looking at it, so a client announcing 200 MB would be given 200 MB of memory.
 * This reads only the fixed headers (a type byte, then the remaining length in 1 to 4 bytes) as
 * the bytes go by, and cuts the connection as soon as a packet announces more than the limit.
 */
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import type { Socket } from 'node:net';

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
  constructor(readonly announcedBytes: number, readonly limitBytes: number) {
    super(`an MQTT packet of ${announcedBytes} bytes announced; at most ${limitBytes}`);
  }
}

/** Passes bytes through unchanged while every packet's remaining length is within `limitBytes`. */
export class PacketSizeGuard extends Transform {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly limitBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let index = 0;
    while (index < chunk.length) {
      if (this.state === 'body') {
        const skipped = Math.min(this.remaining, chunk.length - index);
        this.remaining -= skipped;
        index += skipped;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[index] ?? 0;
      index += 1;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes += 1;
      // MQTT allows 4 length bytes; a fifth is no MQTT at all.
      const complete = (byte & 0x80) === 0 || this.lengthBytes === 4;
      if (!complete) continue;
      if (this.length > this.limitBytes || (byte & 0x80) !== 0) {
        callback(new PacketTooLargeError(this.length, this.limitBytes));
        return;
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    callback(null, chunk);
  }
}

/**
 * The socket as aedes should see it: reads through the guard, writes straight to the socket. A
 * packet over the limit destroys the socket (the client sees the connection drop) and is reported.
 */
export function guardSocket(socket: Socket, limitBytes: number, onRefused: (error: PacketTooLargeError) => void): Duplex {
  const guard = new PacketSizeGuard(limitBytes);
  guard.on('error', (error: Error) => {
    if (error instanceof PacketTooLargeError) onRefused(error);
    socket.destroy();
  });
  socket.pipe(guard);
  const duplex = Duplex.from({ readable: guard, writable: socket });
  // A socket closed from either side ends the pair, so that aedes forgets the client.
  socket.once('close', () => duplex.destroy());
  return duplex;
}
