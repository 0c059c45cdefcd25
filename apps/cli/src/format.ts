/*
 * Text for people: aligned tables, relative times, short durations and
 * one-line previews of payloads. `--json` output never goes through here
 * except toJson.
 */

/** A table cell: null and undefined show as "-". */
export type Cell = string | number | boolean | null | undefined;

const cellText = (cell: Cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell));

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(cellText))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `label: value` lines with the values aligned; null values are left out. */
export function fields(entries: Array<[string, Cell]>): string {
  const shown = entries.filter(([, value]) => value !== null && value !== undefined && value !== '');
  const width = Math.max(0, ...shown.map(([label]) => label.length + 1));
  return shown.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${String(value)}`).join('\n');
}

const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** 850ms, 1.2s, 42s, 3m 4s, 2h 5m, 3d 4h: two units at most. */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(abs)}ms`;
  if (abs < 10_000) return `${(abs / 1_000).toFixed(1)}s`;
  const parts: string[] = [];
  let rest = Math.round(abs / 1_000) * 1_000;
  for (const [unit, size] of UNITS) {
    if (rest >= size || parts.length > 0) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.filter((part, i) => i === 0 || !part.startsWith('0')).join(' ');
}

/** "12s ago", "in 3m", "just now"; "-" for no time. */
export function ago(date: Date | null | undefined, now = Date.now()): string {
  if (!date) return '-';
  const delta = now - date.getTime();
  if (Math.abs(delta) < 1_000) return 'just now';
  return delta > 0 ? `${duration(delta)} ago` : `in ${duration(delta)}`;
}

/** ISO time and how long ago, for detail views: "2026-01-02T10:00:00.000Z (12s ago)". */
export function when(date: Date | null | undefined, now = Date.now()): string | null {
  return date ? `${date.toISOString()} (${ago(date, now)})` : null;
}

/** How long something took, or has been taking while `end` is null. */
export function elapsed(start: Date | null | undefined, end: Date | null | undefined, now = Date.now()): string {
  if (!start) return '-';
  return duration((end ?? new Date(now)).getTime() - start.getTime());
}

/** Bytes show as `{"base64": "..."}`: JSON has no bytes, and Buffer's own form is a list of numbers. */
function bytesAsBase64(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  return original instanceof Uint8Array ? { base64: Buffer.from(original).toString('base64') } : value;
}

/** JSON text of a value; `indent` 0 for one line. Undefined (no payload) is null. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value === undefined ? null : value, bytesAsBase64, indent) ?? 'null';
}

/** A payload on one line, cut at `max` characters. */
export function preview(value: unknown, max = 60): string {
  if (value === undefined) return '-';
  const text = toJson(value, 0);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
