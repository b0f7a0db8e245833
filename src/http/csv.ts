/**
 * CSV over HTTP: the `sep` parameter, content negotiation and the download itself, UTF-8 with a
 * byte order mark. The text is written by reports/csv.ts (the two dialects, quoting).
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { CSV_BOM, CSV_SEPARATORS, type CsvSeparator } from '../reports/csv.js';

export { toCsv, type CsvSeparator } from '../reports/csv.js';

/** The `sep` query parameter of every CSV download. */
export const csvSeparatorParam = z
  .enum(CSV_SEPARATORS)
  .optional()
  .describe('CSV only: `comma` (default) or `semicolon`, for a spreadsheet in French: `;` between cells and a decimal comma (98,5)');

/** `sep` as a page's query gives it: absent is `comma`; anything else unknown is null. */
export function csvSeparatorOf(value: string | undefined): CsvSeparator | null {
  if (value === undefined) return 'comma';
  return CSV_SEPARATORS.find((separator) => separator === value) ?? null;
}

/** CSV when asked by `format=csv`, or by an Accept header that prefers it to JSON. */
export const wantsCsv = (format: string | undefined, accept: string | undefined): boolean =>
  format === 'csv' || (format === undefined && accept !== undefined && /\btext\/csv\b/i.test(accept) && !/\bapplication\/json\b/i.test(accept));

/** RFC 5987 value characters: what encodeURIComponent leaves, less ' ( ) *. */
const extValue = (text: string): string => encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * `attachment; filename="…"`, plus `filename*=UTF-8''…` (RFC 6266) when the name is not plain
 * ASCII: browsers take the UTF-8 name, older clients the ASCII one with accents dropped.
 */
export function attachment(filename: string): string {
  const ascii = filename
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === filename ? `attachment; filename="${filename}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${extValue(filename)}`;
}

/** A CSV table as a download named `filename`: a string goes out as it is, past any JSON response schema. */
export function sendCsv(reply: FastifyReply, filename: string, table: string): FastifyReply {
  return reply.type('text/csv; charset=utf-8').header('content-disposition', attachment(filename)).send(`${CSV_BOM}${table}`);
}
