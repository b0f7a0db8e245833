/**
 * CSV as spreadsheets read it (RFC 4180): CRLF lines, cells quoted when they need to be. Two
 * dialects (docs/reports.md, "Opening the CSV files"): `comma`, the default, for LibreOffice or
 * Excel in English and for programs; `semicolon`, for a spreadsheet in French, which splits on `;`
 * and reads `98,5` as a number. Pure text: the HTTP layer sends it as UTF-8 behind `CSV_BOM`.
 */

type Cell = string | number | boolean | null | undefined;

export const CSV_SEPARATORS = ['comma', 'semicolon'] as const;
export type CsvSeparator = (typeof CSV_SEPARATORS)[number];

const DELIMITER: Record<CsvSeparator, string> = { comma: ',', semicolon: ';' };

/**
 * Excel decodes a CSV without a BOM in the Windows code page (1252 on a French Windows), which
 * turns "Ségou" into "SÃ©gou"; with it, as UTF-8. LibreOffice's import dialog preselects UTF-8 on it.
 */
export const CSV_BOM = '\uFEFF';

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
