import { useState } from 'react';
import type { FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { apiKeyStore, useApiKeyState } from '../api-key';
import { Modal } from './Modal';

/** Where the user gives the dashboard an API key; it opens by itself when the API answers 401. */
export function KeyForm() {
  const { formOpen, refused, hasKey } = useApiKeyState();
  const queryClient = useQueryClient();
  const [key, setKey] = useState('');
  if (!formOpen) return null;

  const done = () => {
    setKey('');
    // Everything that failed for want of a key is asked again.
    void queryClient.resetQueries();
  };
  const save = (event: FormEvent) => {
    event.preventDefault();
    apiKeyStore.save(key.trim());
    done();
  };

  return (
    <Modal title="API key" onClose={apiKeyStore.close}>
      <form onSubmit={save}>
        <div className="modal-body">
          {refused ? (
            <p className="error-box" role="alert">
              The server wants an API key{hasKey ? ' and refused the one stored here' : ''}.
            </p>
          ) : null}
          <p className="muted">
            Sent as <code>Authorization: Bearer …</code> and kept in this browser only (localStorage). Create one with{' '}
            <code>baton key create</code>. A server started with <code>pnpm start</code> on localhost needs none.
          </p>
        </div>
        <label className="field">
          <span>Key</span>
          <input
            name="apiKey"
            type="password"
            autoComplete="off"
            autoFocus
            required
            value={key}
            onChange={(event) => setKey(event.target.value)}
          />
        </label>
        <div className="actions">
          {hasKey ? (
            <button
              type="button"
              onClick={() => {
                apiKeyStore.clear();
                apiKeyStore.close();
                done();
              }}
            >
              Forget the stored key
            </button>
          ) : null}
          <button type="button" onClick={apiKeyStore.close}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Save
          </button>
        </div>
      </form>
    </Modal>
  );
}
