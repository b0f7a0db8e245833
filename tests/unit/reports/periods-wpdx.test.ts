import { describe, expect, it } from 'vitest';
import { completedPeriods, dayStart, PeriodError, periodContaining, periodFromDates } from '../../../src/reports/periods.js';
import { plusCode, wpdxStatus } from '../../../src/reports/wpdx.js';

const HOUR = 3_600_000;
const at = (iso: string): number => Date.parse(iso);

describe('report periods', () => {
  it('reads dates as local midnights, `to` excluded: January has 744 hours, February 2026 672', () => {
    const january = periodFromDates('2026-01-01', '2026-02-01', 'Africa/Bamako');
    expect((january.toMs - january.fromMs) / HOUR).toBe(744);
    const february = periodFromDates('2026-02-01', '2026-03-01', 'Africa/Bamako');
    expect((february.toMs - february.fromMs) / HOUR).toBe(672);
  });

  it('follows the zone, offset changes included', () => {
    // March 2026 in Paris loses an hour on the 29th.
    const march = periodFromDates('2026-03-01', '2026-04-01', 'Europe/Paris');
    expect(march.fromMs).toBe(at('2026-02-28T23:00:00Z'));
    expect((march.toMs - march.fromMs) / HOUR).toBe(743);
  });

  it('refuses impossible dates and zones', () => {
    expect(() => periodFromDates('2026-02-29', '2026-03-01', 'Africa/Bamako')).toThrow(PeriodError);
    expect(() => dayStart('2026-01-01', 'Nowhere/Atlantis')).toThrow(/time zone/);
  });

  it('finds the day, ISO week (from Monday) and month around an instant', () => {
    const thursday = at('2026-02-05T10:00:00Z');
    expect(periodContaining('day', thursday, 'Africa/Bamako')).toMatchObject({ fromMs: at('2026-02-05T00:00:00Z'), toMs: at('2026-02-06T00:00:00Z') });
    expect(periodContaining('week', thursday, 'Africa/Bamako')).toMatchObject({ fromMs: at('2026-02-02T00:00:00Z'), toMs: at('2026-02-09T00:00:00Z') });
    expect(periodContaining('month', thursday, 'Africa/Bamako')).toMatchObject({ fromMs: at('2026-02-01T00:00:00Z'), toMs: at('2026-03-01T00:00:00Z') });
  });

  it('lists the periods that ended since a watermark, oldest first, not the running one', () => {
    const days = completedPeriods('day', at('2026-02-02T00:00:00Z'), at('2026-02-05T10:00:00Z'), 'Africa/Bamako');
    expect(days.map((p) => new Date(p.fromMs).toISOString().slice(0, 10))).toEqual(['2026-02-02', '2026-02-03', '2026-02-04']);
    expect(completedPeriods('month', at('2026-02-01T00:00:00Z'), at('2026-02-05T10:00:00Z'), 'Africa/Bamako')).toEqual([]);
  });
});

describe('WPdx export', () => {
  it('derives wpdx_id from the plus code, matching Open Location Code reference vectors', () => {
    expect(plusCode(20.3701125, 2.782234375)).toBe('7FG49QCJ+2VX');
    expect(plusCode(47.0000625, 8.0000625).slice(0, 11)).toBe('8FVC2222+22');
    expect(plusCode(-41.2730625, 174.7859375).slice(0, 11)).toBe('4VCPPQGP+Q9');
    expect(plusCode(0, 0)).toBe('6FG22222+222');
    // The pole belongs to the last row of cells; longitude 180 is -180.
    expect(plusCode(90, 180).slice(0, 11)).toBe('C2X2X2X2+X2');
  });

  it('maps statuses and alerts onto WPdx status_id and status_clean', () => {
    expect(wpdxStatus('ok', [])).toEqual({ status_id: 'Yes', status_clean: 'Functional' });
    expect(wpdxStatus('alert', [{ rule: 'short_cycling', severity: 'warning', fault: null }])).toEqual({ status_id: 'Yes', status_clean: 'Functional, needs repair' });
    expect(wpdxStatus('alert', [{ rule: 'pump_fault', severity: 'critical', fault: 'overload' }])).toEqual({ status_id: 'No', status_clean: 'Non-Functional' });
    expect(wpdxStatus('alert', [{ rule: 'low_water', severity: 'critical', fault: null }])).toEqual({ status_id: 'No', status_clean: 'Non-Functional, dry' });
    expect(wpdxStatus('offline', [{ rule: 'offline', severity: 'warning', fault: null }])).toEqual({ status_id: 'Unknown', status_clean: '' });
  });
});
