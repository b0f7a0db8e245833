/** A device-side MQTT publisher for tests: QoS 1, waiting for every PUBACK. */
import mqtt, { type MqttClient } from 'mqtt';

export interface Message {
  topic: string;
  payload: string | Buffer;
  retain?: boolean;
}

export async function connectPublisher(url: string, clientId = `test-pub-${process.pid}-${Math.random().toString(36).slice(2)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, clean: true, protocolVersion: 4, reconnectPeriod: 500 });
}

/** Publishes in order, at most `window` unacknowledged at a time. */
export async function publishAll(client: MqttClient, messages: readonly Message[], window = 200): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (const message of messages) {
    const sent = client.publishAsync(message.topic, message.payload, { qos: 1, retain: message.retain ?? false });
    inFlight.add(sent);
    void sent.finally(() => inFlight.delete(sent)).catch(() => undefined);
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}
