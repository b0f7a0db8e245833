import { describe, expect, it } from 'vitest';
import type { Borehole } from '../../../src/config/registry.js';
import { boreholeStatus } from '../../../src/domain/borehole-status.js';
import type { BoreholeSummary } from '../../../src/http/network.js';
import { ago, Formatter } from '../../../src/http/pages/format.js';
import { escapeHtml, html, jsonData, raw } from '../../../src/http/pages/html.js';
import { networkMap } from '../../../src/http/pages/network-page.js';
import { safeNext } from '../../../src/http/pages/routes.js';
import { seriesWindow } from '../../../src/http/routes/boreholes.js';
import { maskPhones } from '../../../src/http/schemas.js';
import { formatEvery, parseEvery, parseInstant } from '../../../src/http/time-params.js';
import { httpRegistry, HOUR_MS, MINUTE_MS, T0_MS } from './harness.js';

const khabou = httpRegistry().boreholes.get('khabou') as Borehole;

describe('borehole status', () => {
  it('is unknown for a borehole never heard from, whatever else', () => {
    expect(boreholeStatus(khabou, null, [], T0_MS)).toBe('unknown');
  });

  it('is offline with an unresolved offline alert, even when heard a moment ago', () => {
    expect(boreholeStatus(khabou, T0_MS, [{ rule: 'offline' }, { rule: 'pump_fault' }], T0_MS)).toBe('offline');
  });

  it('is offline once silent for longer than offline_minutes, and not at exactly that', () => {
    expect(boreholeStatus(khabou, T0_MS - 60 * MINUTE_MS, [], T0_MS)).toBe('ok');
    expect(boreholeStatus(khabou, T0_MS - 60 * MINUTE_MS - 1, [], T0_MS)).toBe('offline');
  });

  it('is alert with any other unresolved alert, else ok', () => {
    expect(boreholeStatus(khabou, T0_MS, [{ rule: 'maintenance_due' }], T0_MS)).toBe('alert');
    expect(boreholeStatus(khabou, T0_MS, [], T0_MS)).toBe('ok');
  });
});

describe('query instants and durations', () => {
  it.each([
    ['2026-02-05T10:42:00Z', Date.UTC(2026, 1, 5, 10, 42)],
    ['2026-02-05T10:42:00.250Z', Date.UTC(2026, 1, 5, 10, 42, 0, 250)],
    ['2026-02-05T11:42:00+01:00', Date.UTC(2026, 1, 5, 10, 42)],
    ['2026-02-05', Date.UTC(2026, 1, 5)],
    ['1770288120000', 1770288120000],
    ['0', 0],
  ])('reads %s', (text, ms) => {
    expect(parseInstant(text)).toBe(ms);
  });

  it.each(['', 'now', '2026-02-05T10:42:00', '2026-02-30T10:00:00Z', '-5', '1e12', '2026/02/05'])('refuses %j', (text) => {
    expect(parseInstant(text)).toBeNull();
  });

  it('reads and writes bucket widths', () => {
    expect([parseEvery('15m'), parseEvery('1h'), parseEvery('1d'), parseEvery('90m')]).toEqual([15 * MINUTE_MS, HOUR_MS, 24 * HOUR_MS, 90 * MINUTE_MS]);
    expect([parseEvery('0m'), parseEvery('1w'), parseEvery('1.5h'), parseEvery('h')]).toEqual([null, null, null, null]);
    expect([formatEvery(24 * HOUR_MS), formatEvery(HOUR_MS), formatEvery(90 * MINUTE_MS)]).toEqual(['1d', '1h', '90m']);
  });

  it('gives 7 days before `to`, or after `from`, by default', () => {
    const nowMs = T0_MS + 20 * MINUTE_MS;
    expect(seriesWindow({}, nowMs)).toEqual({ fromMs: T0_MS + HOUR_MS - 7 * 24 * HOUR_MS, toMs: T0_MS + HOUR_MS, everyMs: HOUR_MS });
    expect(seriesWindow({ from: '2026-01-01' }, nowMs)).toEqual({ fromMs: Date.UTC(2026, 0, 1), toMs: Date.UTC(2026, 0, 8), everyMs: HOUR_MS });
    expect(seriesWindow({ to: '2026-01-08', every: '1d' }, nowMs)).toEqual({ fromMs: Date.UTC(2026, 0, 1), toMs: Date.UTC(2026, 0, 8), everyMs: 24 * HOUR_MS });
  });
});

describe('HTML', () => {
  it('escapes every interpolated value, not the template', () => {
    const name = `<script>alert("x")</script> & 'co'`;
    expect(html`<p title="${name}">${name}</p>`.text).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;</p>',
    );
  });

  it('nests built fragments and arrays without escaping them twice, and drops null, undefined and false', () => {
    const items = ['a<b', 'c'].map((text) => html`<li>${text}</li>`);
    expect(html`<ul>${items}${null}${undefined}${false}${raw('<hr>')}</ul>`.text).toBe('<ul><li>a&lt;b</li><li>c</li><hr></ul>');
    expect(escapeHtml('"&"')).toBe('&quot;&amp;&quot;');
  });

  it('writes JSON that cannot close its script element', () => {
    const text = jsonData({ name: '</script><script>alert(1)</script>' }).text;
    expect(text).not.toContain('</script>');
    expect(JSON.parse(text)).toEqual({ name: '</script><script>alert(1)</script>' });
  });
});

describe('pages helpers', () => {
  it('keeps `next` on this site', () => {
    expect(safeNext('/alerts?state=open')).toBe('/alerts?state=open');
    for (const value of ['//evil.example', '/\\evil.example', 'https://evil.example', 'evil', '', undefined, 42, '/a\nb', `/${'x'.repeat(600)}`]) {
      expect(safeNext(value)).toBe('/');
    }
  });

  it('masks phone numbers in free text', () => {
    expect(maskPhones('sms:+22376000001')).toBe('sms:+•••');
    expect(maskPhones('api:operator')).toBe('api:operator');
  });

  it('says how long ago in French', () => {
    expect([0, 59_000, 5 * MINUTE_MS, 3 * HOUR_MS, 50 * HOUR_MS].map((age) => ago(T0_MS - age, T0_MS))).toEqual([
      "à l'instant",
      "à l'instant",
      'il y a 5 min',
      'il y a 3 h',
      'il y a 2 j',
    ]);
  });

  it('formats times in the configured zone, and finds its midnight', () => {
    const bamako = new Formatter('Africa/Bamako');
    expect(bamako.dateTimeOf(Date.UTC(2026, 1, 5, 10, 42))).toBe('05/02/2026 10:42');
    expect(bamako.startOfDay(Date.UTC(2026, 1, 5, 10, 42, 7, 300))).toBe(Date.UTC(2026, 1, 5));
    const paris = new Formatter('Europe/Paris');
    expect(paris.dateTimeOf(Date.UTC(2026, 1, 5, 10, 42))).toBe('05/02/2026 11:42');
    expect(paris.startOfDay(Date.UTC(2026, 1, 5, 10, 42))).toBe(Date.UTC(2026, 1, 4, 23));
  });

  it('draws a map of one borehole, and of many without labels on top of each other', () => {
    const summary = (id: string, lat: number, lon: number): BoreholeSummary => ({
      borehole: { ...khabou, id, village: id, location: { lat, lon } },
      status: 'ok',
      lastSeenAtMs: T0_MS,
      openAlerts: [],
    });
    const one = networkMap([summary('khabou', 14.4, -11.4)]).text;
    expect(one).toMatch(/<circle cx="500\.0" cy="200\.0"/);
    const crowd = networkMap(Array.from({ length: 8 }, (_, index) => summary(`b${index}`, 14 + index * 0.001, -11))).text;
    expect((crowd.match(/<circle /g) ?? []).length).toBe(8);
    expect(crowd).not.toContain('NaN');
  });
});
