import { useSyncExternalStore } from 'react';

/*
 * The API key the dashboard sends as `Authorization: Bearer <key>`. It lives
 * in this browser's localStorage and nowhere else: it is never logged nor put
 * in a URL. With auth off (`pnpm start` on localhost) none is needed, so the
 * key form opens only when the API answers 401 or the user asks for it.
 */

const STORAGE_KEY = 'baton.apiKey';

interface KeyState {
  /** Whether a key is stored (the key itself stays out of React state). */
  hasKey: boolean;
  /** The form is open: the API refused the key (or its absence), or the user opened it. */
  formOpen: boolean;
  /** Why the form opened by itself. */
  refused: boolean;
}

const listeners = new Set<() => void>();

function read(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

let state: KeyState = { hasKey: !!read(), formOpen: false, refused: false };

function update(next: Partial<KeyState>): void {
  state = { ...state, ...next };
  for (const listener of listeners) listener();
}

export const apiKeyStore = {
  get: read,
  save(key: string): void {
    localStorage.setItem(STORAGE_KEY, key);
    update({ hasKey: true, formOpen: false, refused: false });
  },
  clear(): void {
    localStorage.removeItem(STORAGE_KEY);
    update({ hasKey: false });
  },
  /**
   * The API answered 401 to a call sent with `sentKey`. A call sent before the
   * key changed says nothing about the new key: a page's first calls, made
   * without a key, may answer after the user saved one, and must not open the
   * form again.
   */
  rejected(sentKey: string | null): void {
    if (sentKey !== read()) return;
    if (!state.formOpen) update({ formOpen: true, refused: true });
  },
  open(): void {
    update({ formOpen: true, refused: false });
  },
  close(): void {
    update({ formOpen: false, refused: false });
  },
  subscribe(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  snapshot: (): KeyState => state,
};

export function useApiKeyState(): KeyState {
  return useSyncExternalStore(apiKeyStore.subscribe, apiKeyStore.snapshot);
}
