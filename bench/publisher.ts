/**
 * Publishes QoS 1 flow readings as fast as the broker acknowledges them, from its own process.
 * Prints one JSON line when every message was acknowledged.
 *
 *   tsx bench/publisher.ts <url> <topic root> <borehole ids, comma-separated> <messages> <readings per message> <first ts>
 */
import mqtt from 'mqtt';

const [url, root, idsText, messagesText, perMessageText, firstTsText] = process.argv.slice(2);
if (!url || !root || !idsText || !messagesText || !perMessageText || !firstTsText) {
  process.stderr.write('usage: publisher <url> <root> <ids> <messages> <readings per message> <first ts>\n');
  process.exit(2);
}
const ids = idsText.split(',');
const messages = Number(messagesText);
const perMessage = Number(perMessageText);
const firstTs = Number(firstTsText);
/** Unacknowledged messages at a time: enough to keep the broker busy, bounded for memory. */
const WINDOW = 2000;

const client = await mqtt.connectAsync(url, { clientId: `bench-pub-${process.pid}`, clean: true, protocolVersion: 4 });
const startedAtMs = Date.now();
let acked = 0;
let sent = 0;

function payload(n: number): string {
  // Readings of one borehole are a second apart, so no two share (borehole, ts).
  const tsBase = firstTs + Math.floor(n / ids.length) * perMessage * 1000;
  if (perMessage === 1) return `{"ts":${tsBase},"rate_lpm":${(40 + (n % 30)).toFixed(1)},"total_m3":${n}}`;
  const readings = Array.from({ length: perMessage }, (_, k) => `{"ts":${tsBase + k * 1000},"rate_lpm":${40 + (k % 30)}}`);
  return `[${readings.join(',')}]`;
}

await new Promise<void>((resolve, reject) => {
  const pump = (): void => {
    while (sent < messages && sent - acked < WINDOW) {
      const n = sent;
      sent += 1;
      client.publish(`${root}/${ids[n % ids.length] ?? ''}/flow`, payload(n), { qos: 1 }, (error) => {
        if (error) {
          reject(error);
          return;
        }
        acked += 1;
        if (acked === messages) resolve();
        else if (sent - acked < WINDOW / 2) pump();
      });
    }
  };
  pump();
});
process.stdout.write(`${JSON.stringify({ messages, startedAtMs, doneAtMs: Date.now() })}\n`);
await client.endAsync();
