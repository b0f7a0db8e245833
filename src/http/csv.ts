/**
 * CSV as spreadsheets read it (RFC 4180): CRLF lines, cells quoted when they need to be, UTF-8
 * with a byte order mark. Two dialects (docs/reports.md, "Opening the CSV files"): `comma`, the
 * default, for LibreOffice or Excel in English and for programs; `semicolon`, for a spreadsheet in
 * French, which splits on `;` and reads `98,5` as a number.
 */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';

type Cell = string | number | boolean | null | undefined;

export const CSV_SEPARATORS = ['comma', 'semicolon'] as const;
export type CsvSeparator = (typeof CSV_SEPARATORS)[number];

const DELIMITER: Record<CsvSeparator, string> = { comma: ',', semicolon: ';' };

/**
 * Excel decodes a CSV without a BOM in the Windows code page (1252 on a French Windows), which
 * turns "Ségou" into "SÃ©gou"; with it, as UTF-8. LibreOffice's import dialog preselects UTF-8 on it.
 */
export const CSV_BOM = '\uFEFF';

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

function cell(value: Cell, separator: CsvSeparator): string {
  if (value === null || value === undefined) return '';
  let text: string;
  // A French spreadsheet reads 98.5 as text (or a date): with `;` it expects 98,5.
  if (typeof value === 'number') text = separator === 'semicolon' ? String(value).replace('.', ',') : String(value);
  // A leading = + - @ makes spreadsheets run the cell as a formula: names come from the registry.
  else if (typeof value === 'string' && /^[=+\-@]/.test(value)) text = `'${value}`;
  else text = String(value);
  // Either separator and a tab are quoted in both dialects: LibreOffice's import dialog splits on
  // comma, semicolon and tab at once by default, so an unquoted "98,5" or "Puits A; B" would
  // spill into the next column there.
  return /[",;\t\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv<K extends string>(columns: readonly K[], rows: readonly Readonly<Record<K, Cell>>[], separator: CsvSeparator = 'comma'): string {
  const delimiter = DELIMITER[separator];
  const lines = [columns.map((column) => cell(column, separator)).join(delimiter)];
  for (const row of rows) lines.push(columns.map((column) => cell(row[column], separator)).join(delimiter));
  return `${lines.join('\r\n')}\r\n`;
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
