import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketSizeGuard, PacketTooLargeError } from '../../../src/ingest/packet-guard.js';

const LIMIT = 4096;

/** Feeds the chunks through a guard: what came out, and the error if it stopped. */
async function run(chunks: readonly Buffer[]): Promise<{ out: Buffer; error: Error | null }> {
  const guard = new PacketSizeGuard(LIMIT);
  const out: Buffer[] = [];
  guard.on('data', (chunk: Buffer) => out.push(chunk));
  const error = await new Promise<Error | null>((resolve) => {
    guard.on('error', resolve);
    guard.on('end', () => resolve(null));
    for (const chunk of chunks) guard.write(chunk);
    guard.end();
  });
  return { out: Buffer.concat(out), error };
}

const publish = (payloadBytes: number, topic = 'boreholes/khabou/flow'): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(payloadBytes, 0x61), qos: 1, messageId: 1, retain: false, dup: false });

/** Cuts a buffer at the given offsets, as TCP may deliver it. */
function split(buffer: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (buffer.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(buffer.subarray(start, point));
    start = point;
  }
  chunks.push(buffer.subarray(start));
  return chunks.filter((chunk) => chunk.length > 0);
}

describe('MQTT packet size guard', () => {
  it('passes any stream of packets within the limit through unchanged, however it is cut', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: LIMIT - 64 }), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), async (sizes, cuts) => {
        const stream = Buffer.concat([mqttPacket.generate({ cmd: 'pingreq' }), ...sizes.map((size) => publish(size))]);
        const { out, error } = await run(split(stream, cuts));
        expect(error).toBeNull();
        expect(out.equals(stream)).toBe(true);
      }),
      { seed: 20261129, numRuns: 200 },
    );
  });

  it('stops at the header of the first packet over the limit, wherever it comes and however it is cut', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: LIMIT - 64 }), { maxLength: 6 }), fc.integer({ min: LIMIT + 1, max: 200_000 }), fc.array(fc.nat(), { maxLength: 20 }), async (before, big, cuts) => {
        const honest = Buffer.concat(before.map((size) => publish(size)));
        const stream = Buffer.concat([honest, publish(big)]);
        const { out, error } = await run(split(stream, cuts));
        expect(error).toBeInstanceOf(PacketTooLargeError);
        expect((error as PacketTooLargeError).announcedBytes).toBeGreaterThan(LIMIT);
        // Nothing of the large packet's body got through.
        expect(out.length).toBeLessThanOrEqual(honest.length + 5);
      }),
      { seed: 20261129, numRuns: 200 },
    );
  });

  it('refuses a remaining length of more than 4 bytes, which is not MQTT', async () => {
    const { error } = await run([Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])]);
    expect(error).toBeInstanceOf(PacketTooLargeError);
  });
});
