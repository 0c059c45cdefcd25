import { useEffect, useState } from 'react';

/** A duration for people: 850 ms, 4.2 s, 3 min 5 s, 2 h 10 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${Math.floor(s % 60)} s`;
  const h = Math.floor(min / 60);
  if (h < 24) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export const time = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

/** A timestamp in the browser's locale and time zone, or a dash. */
export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** "12 s ago" for a time the server recorded: never "in ...", since `now` ticks only once a second. */
export function formatAgo(iso: string | null | undefined, now: number): string {
  const at = time(iso);
  if (at === null) return '—';
  return now - at < 1000 ? 'just now' : `${formatDuration(now - at)} ago`;
}

/** "12 s ago", "in 3 min": for a time that may lie ahead (a schedule's next firing). */
export function formatAge(iso: string | null | undefined, now: number): string {
  const at = time(iso);
  if (at === null) return '—';
  const delta = now - at;
  return delta >= 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(-delta)}`;
}

/** A JSON or binary payload as the API returns it, for a <pre>. */
export function formatPayload(value: unknown, base64?: string): string {
  if (base64 !== undefined) return `(binary, base64) ${base64}`;
  if (value === undefined) return '';
  return JSON.stringify(value, null, 2);
}

/** The current time, ticking: ages and running bars move between two fetches. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** An ISO time as a datetime-local input shows it (the browser's time zone, to the minute). */
export function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A datetime-local input's value (local time) as ISO-8601, what the API's created filters take. */
export function fromLocalInput(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}
