/** A run's, step's or worker's status as a coloured pill (colours in styles.css, by status). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.toLowerCase()}`}>{status}</span>;
}
