/** The outbox as operators follow it: states, failures first, receipts matched, retries (sqlite-store.ts). */
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore, smsStateOf } from '../../../src/storage/sqlite-store.js';

const T0 = Date.UTC(2026, 11, 7, 9);
const stores: SqliteStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

function outbox(): SqliteStore {
  const store = new SqliteStore(':memory:');
  stores.push(store);
  const enqueue = (id: string, recipient: string, at: number) =>
    store.enqueueSms({ id, recipient, text: `message ${id}`, kind: 'alert', alertId: null, createdAtMs: at, notBeforeMs: at, onlyWhileUnresolved: false });
  enqueue('a', '+22376000001', T0);
  enqueue('b', '+22376000002', T0 + 1000);
  enqueue('c', '+22376000001', T0 + 2000);
  enqueue('d', '+22376000003', T0 + 3000);
  store.markSmsSent('a', T0 + 10, 'africastalking', 'ATXid_a');
  store.finishSms('b', 'failed', 'invalid recipient number');
  store.markSmsSent('c', T0 + 2010, 'orange', 'req-c');
  return store;
}

describe('the SMS outbox', () => {
  it('lists by state, by recipient and since a time, failures first when asked', () => {
    const store = outbox();
    expect(store.querySms({ limit: 10, offset: 0 }).messages.map((m) => m.id)).toEqual(['d', 'c', 'b', 'a']);
    expect(store.querySms({ failuresFirst: true, limit: 10, offset: 0 }).messages.map((m) => m.id)).toEqual(['b', 'd', 'c', 'a']);
    expect(store.querySms({ states: ['failed'], limit: 10, offset: 0 })).toMatchObject({ total: 1, messages: [{ id: 'b' }] });
    expect(store.querySms({ states: ['sent'], recipient: '+22376000001', limit: 10, offset: 0 }).messages.map((m) => m.id)).toEqual(['c', 'a']);
    expect(store.querySms({ sinceMs: T0 + 1500, limit: 10, offset: 0 }).total).toBe(2);
    expect(store.querySms({ limit: 1, offset: 1 })).toMatchObject({ total: 4, messages: [{ id: 'c' }] });
  });

  it("records a receipt on the message it names: by the provider's id, by ours, or the oldest awaiting one for the number", () => {
    const store = outbox();
    expect(store.recordDelivery({ providerMessageId: 'ATXid_a' }, 'delivered', 'Success', T0 + 5000)).toMatchObject({ id: 'a', delivery: 'delivered' });
    expect(smsStateOf(store.smsById('a') ?? { status: 'pending', delivery: null })).toBe('delivered');
    expect(store.recordDelivery({ messageId: 'c' }, 'undelivered', 'DeliveryImpossible', T0 + 6000)).toMatchObject({ id: 'c' });
    expect(store.querySms({ states: ['failed'], limit: 10, offset: 0 }).messages.map((m) => m.id).sort()).toEqual(['b', 'c']);
    // By number: the oldest sent message to it still waiting for a receipt (a is done, c too now).
    expect(store.recordDelivery({ recipient: '+22376000001' }, 'delivered', 'DeliveredToTerminal', T0 + 7000)).toBeNull();
    // Nothing sent under that id, or a message not sent (pending, failed): no match, nothing changes.
    expect(store.recordDelivery({ providerMessageId: 'ATXid_nobody' }, 'delivered', 'Success', T0)).toBeNull();
    expect(store.recordDelivery({ messageId: 'd' }, 'delivered', 'Success', T0)).toBeNull();
    expect(store.outboxStats(T0 + 8000).failed).toBe(2);
  });

  it('sends a failed message again under the same id, and nothing else', () => {
    const store = outbox();
    store.recordDelivery({ messageId: 'c' }, 'undelivered', 'DeliveryImpossible', T0 + 6000);
    expect(store.retrySms('a', T0 + 9000)).toBe(false);
    expect(store.retrySms('d', T0 + 9000)).toBe(false);
    expect(store.retrySms('b', T0 + 9000)).toBe(true);
    expect(store.retrySms('c', T0 + 9000)).toBe(true);
    expect(store.dueSms(T0 + 9000, 10).map((m) => m.id).sort()).toEqual(['b', 'c', 'd']);
    expect(store.smsById('c')).toMatchObject({ status: 'pending', delivery: null, deliveryDetail: null });
    expect(store.querySms({ limit: 10, offset: 0 }).total).toBe(4);
  });
});
