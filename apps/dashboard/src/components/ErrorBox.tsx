import { ApiError } from '../api';

/** An error from the API as it said it: code, message and the field at fault. */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    return (
      <div className="error-box" role="alert">
        <strong>{error.code}</strong> {error.message}
        {error.field ? <span className="muted"> (field: {error.field})</span> : null}
      </div>
    );
  }
  return (
    <div className="error-box" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </div>
  );
}
