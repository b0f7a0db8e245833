/**
 * The acknowledgement rule of the MQTT subscription, against a real broker: a message is
 * acknowledged only once its group is committed, and a failed commit acknowledges nothing.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { IncomingMessage } from '../../src/ingest/ingest.js';
import { MqttSource } from '../../src/ingest/mqtt-source.js';
import { uniqueName } from '../support/fixtures.js';
import { connectPublisher, publishAll } from '../support/mqtt.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! MQTT subscription suite SKIPPED: no MQTT broker (see tests/support/global-setup.ts)');

describe.skipIf(serverSource === 'none')('MQTT subscription', () => {
  const sources: MqttSource[] = [];
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.stop()));
  });

  it('has the broker deliver again every message of a group whose commit failed', async () => {
    const root = uniqueName('ack').toLowerCase().replace(/_/g, '-');
    const committed = new Set<string>();
    let pending: string[] = [];
    let failuresLeft = 3;
    const source = new MqttSource({
      url: inject('mqttUrl'),
      clientId: root,
      protocolVersion: 4,
      topicRoot: root,
      log: pino({ level: 'silent' }),
      handle: (message: IncomingMessage) => pending.push(message.payload.toString()),
      commit: () => {
        const group = pending;
        pending = [];
        if (group.length > 0 && failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('disk full');
        }
        for (const payload of group) committed.add(payload);
        return group.length > 0;
      },
    });
    sources.push(source);
    source.start();
    await expect.poll(() => source.connected, { timeout: 10_000 }).toBe(true);
    // Let the subscription settle: a message sent before it would not be queued for the session.
    await expect.poll(async () => {
      const probe = await connectPublisher(inject('mqttUrl'));
      await probe.publishAsync(`${root}/probe-0/flow`, 'probe', { qos: 1 });
      await probe.endAsync();
      return committed.has('probe') || pending.includes('probe') || failuresLeft < 3;
    }, { timeout: 10_000 }).toBe(true);

    const publisher = await connectPublisher(inject('mqttUrl'));
    const payloads = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await publishAll(publisher, payloads.map((payload) => ({ topic: `${root}/b-1/flow`, payload })));
    await publisher.endAsync();

    await expect.poll(() => payloads.filter((p) => !committed.has(p)).length, { timeout: 60_000, interval: 200 }).toBe(0);
    expect(failuresLeft).toBe(0);
  });
});
