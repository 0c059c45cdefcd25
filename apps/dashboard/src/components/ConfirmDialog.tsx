import { useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import { ErrorBox } from './ErrorBox';
import { Modal } from './Modal';

interface ConfirmDialogProps {
  title: string;
  children: ReactNode;
  confirmLabel: string;
  /** Ask for a reason (Terminate requires one; the API records it in the run's history). */
  reason?: 'required' | 'optional';
  danger?: boolean;
  onConfirm: (reason: string) => Promise<unknown>;
  onClose: () => void;
}

/** "Are you sure?" before an action that changes a run or a worker; the API's refusal is shown in place. */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const [reason, setReason] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setError(null);
    try {
      await props.onConfirm(reason.trim());
      props.onClose();
    } catch (err) {
      setError(err);
      setPending(false);
    }
  }

  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form onSubmit={submit}>
        <div className="modal-body">{props.children}</div>
        {props.reason ? (
          <label className="field">
            <span>Reason{props.reason === 'optional' ? ' (optional)' : ''}</span>
            <input
              name="reason"
              value={reason}
              autoFocus
              required={props.reason === 'required'}
              onChange={(event) => setReason(event.target.value)}
            />
          </label>
        ) : null}
        <ErrorBox error={error} />
        <div className="actions">
          <button type="button" onClick={props.onClose}>
            Back
          </button>
          <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={pending}>
            {pending ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </Modal>
  );
}
