/**
 * The broker's own QoS 1 delivery ceiling: a subscriber that does nothing but count, with the same
 * client settings as the service (persistent session, QoS 1, one message at a time). Runs as its
 * own process, like the service, so the comparison is fair. Prints one JSON line when done.
 *
 *   tsx bench/count-subscriber.ts <url> <topic filter> <expected count>
 */
import mqtt from 'mqtt';

const [url, filter, expectedText] = process.argv.slice(2);
if (!url || !filter || !expectedText) {
  process.stderr.write('usage: count-subscriber <url> <topic filter> <expected count>\n');
  process.exit(2);
}
const expected = Number(expectedText);
let count = 0;
let firstAtMs = 0;

const client = mqtt.connect(url, {
  clientId: `bench-count-${process.pid}`,
  clean: false,
  protocolVersion: 5,
  properties: { sessionExpiryInterval: 600 },
});
client.handleMessage = (_packet, callback) => {
  if (count === 0) firstAtMs = Date.now();
  count += 1;
  if (count === expected) {
    process.stdout.write(`${JSON.stringify({ count, firstAtMs, lastAtMs: Date.now() })}\n`);
    callback();
    void client.endAsync().then(() => process.exit(0));
    return;
  }
  callback();
};
client.on('connect', () => {
  client.subscribe(filter, { qos: 1 }, (error) => {
    if (error) throw error;
    process.stdout.write('{"subscribed":true}\n');
  });
});
