/**
 * Finding S3 of docs/security.md: a reply that passed the gateway's secret still comes from a
 * phone number anyone can type into the SMS body of a forged gateway request or spoof at the
 * operator. Only numbers of the registry act, each on its own boreholes, and REPARE only from the
 * borehole's technician. Driven through the HTTP route, the real handler and the SQLite store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertOf, seedNetwork } from '../http/harness.js';
import { INBOUND_TOKEN, PHONES, startSmsHarness, type SmsHarness } from './support.js';

let h: SmsHarness;

beforeEach(async () => {
  h = await startSmsHarness();
  seedNetwork(h);
});

afterEach(async () => {
  await h.close();
});

const reply = (from: string, text: string) =>
  h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: { authorization: `Bearer ${INBOUND_TOKEN}` }, payload: { from, text } });

const khabouFault = () => alertOf(h, 'khabou', 'pump_fault');
const historyActors = (alertId: string) => h.store.alertHistory(alertId).map((entry) => entry.actor);

describe('S3 only registered numbers act, each within its standing', () => {
  it('lets the committee of the borehole acknowledge its alert (the control)', async () => {
    const alert = khabouFault();
    expect((await reply(PHONES.khabouCommittee, `OK ${alert.code}`)).json()).toEqual({ outcome: 'acknowledged' });
    expect(h.store.alertById(alert.id)?.state).toBe('acknowledged');
    expect(historyActors(alert.id)).toContain(`sms:${PHONES.khabouCommittee}`);
  });

  it('ignores an unknown number: no change, no answer, only the record of the SMS', async () => {
    const alert = khabouFault();
    for (const text of [`OK ${alert.code}`, `REPARE ${alert.code}`, 'ETAT']) {
      expect((await reply(PHONES.unknown, text)).json()).toEqual({ outcome: 'ignored_unknown_number' });
    }
    expect(h.store.alertById(alert.id)?.state).toBe('open');
    expect(h.store.listMaintenance('khabou')).toEqual([]);
    // ETAT would tell a stranger which boreholes are down: nothing is sent back.
    expect(h.replies).toEqual([]);
  });

  // CONTRACT.md section 5: matched whatever the gateway's spelling (issue 13).
  it.each([
    ['without the plus', '22376000001'],
    ['with the international prefix 00', '0022376000001'],
    ['in the national form', '76000001'],
    ['with spaces', '+223 76 00 00 01'],
  ])('takes a registered number written %s for that number, and answers its E.164 form', async (_name, from) => {
    const alert = khabouFault();
    expect((await reply(from, `OK ${alert.code}`)).json()).toEqual({ outcome: 'acknowledged' });
    expect(historyActors(alert.id)).toContain(`sms:${PHONES.khabouCommittee}`);
    expect(h.replies.map((sent) => sent.to)).toEqual([PHONES.khabouCommittee]);
  });

  it.each([
    ['with full-width digits', '+２２３７６０００００１'],
    ['with a trailing digit', '+223760000011'],
    ['prefixed with whatsapp:', 'whatsapp:+22376000001'],
  ])('does not take a registered number written %s for that number', async (_name, from) => {
    const alert = khabouFault();
    const response = await reply(from, `OK ${alert.code}`);
    // Either refused as malformed or, when it is a valid E.164 number of nobody, ignored.
    if (response.statusCode === 200) expect(response.json()).toEqual({ outcome: 'ignored_unknown_number' });
    else expect(response.statusCode).toBe(400);
    expect(h.store.alertById(alert.id)?.state).toBe('open');
    expect(h.replies).toEqual([]);
  });

  it('refuses REPARE from a committee member: technicians only, nothing resolved or recorded', async () => {
    const alert = khabouFault();
    expect((await reply(PHONES.khabouCommittee, `REPARE ${alert.code} pompe changee`)).json()).toEqual({ outcome: 'not_allowed' });
    expect(h.store.alertById(alert.id)?.state).toBe('open');
    expect(h.store.listMaintenance('khabou')).toEqual([]);
  });

  it("answers a number of borehole A acting on borehole B's alert as if the code did not exist, and changes nothing", async () => {
    const alert = khabouFault();
    const ack = await reply(PHONES.segalaCommittee, `OK ${alert.code}`);
    const repair = await reply(PHONES.segalaCommittee, `REPARE ${alert.code}`);
    const missing = await reply(PHONES.segalaCommittee, 'OK 999999');
    expect([ack.json(), repair.json(), missing.json()]).toEqual([{ outcome: 'unknown_incident' }, { outcome: 'unknown_incident' }, { outcome: 'unknown_incident' }]);
    // The answers to a real code of another village and to a code that does not exist differ only
    // by the code quoted: nothing tells the sender that the other alert exists.
    const [ackText, , missingText] = h.replies.map((sent) => sent.text);
    expect(ackText?.replace(String(alert.code), '#')).toBe(missingText?.replace('999999', '#'));
    expect(h.store.alertById(alert.id)?.state).toBe('open');
    expect(historyActors(alert.id)).not.toContain(`sms:${PHONES.segalaCommittee}`);
  });

  it("shows ETAT only the sender's own boreholes", async () => {
    expect((await reply(PHONES.segalaCommittee, 'ETAT')).json()).toEqual({ outcome: 'status' });
    const text = h.replies[0]?.text ?? '';
    expect(text).toContain('Ségala');
    expect(text).not.toContain('Khabou');
  });
});
