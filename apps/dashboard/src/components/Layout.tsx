import { useState } from 'react';
import type { FormEvent } from 'react';
import { NavLink, Outlet, useLocation, useMatch, useNavigate } from 'react-router';
import { apiKeyStore, useApiKeyState } from '../api-key';
import { namespacePath } from '../paths';
import { KeyForm } from './KeyForm';

export const DEFAULT_NAMESPACE = 'default';
const SECTIONS = [
  ['runs', 'Runs'],
  ['schedules', 'Schedules'],
  ['workers', 'Workers'],
  ['queues', 'Queues'],
] as const;

/** The namespace the page shows, from its URL (/namespaces/:namespace/...). */
export function useNamespace(): string {
  return useMatch('/namespaces/:namespace/*')?.params.namespace ?? DEFAULT_NAMESPACE;
}

function NamespacePicker({ namespace }: { namespace: string }) {
  const navigate = useNavigate();
  const section = /^\/namespaces\/[^/]+\/([a-z]+)/.exec(useLocation().pathname)?.[1] ?? 'runs';
  const [value, setValue] = useState(namespace);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const next = value.trim() || DEFAULT_NAMESPACE;
    // A run belongs to one namespace: switching goes to the list of the section.
    navigate(`${namespacePath(next)}/${section}`);
  };
  return (
    <form className="namespace" onSubmit={submit}>
      <label>
        <span>Namespace</span>
        <input name="namespace" value={value} onChange={(event) => setValue(event.target.value)} size={12} />
      </label>
    </form>
  );
}

export function Layout() {
  const namespace = useNamespace();
  const { hasKey } = useApiKeyState();
  const base = namespacePath(namespace);
  return (
    <div className="app">
      <header className="topbar">
        <NavLink to={`${base}/runs`} className="brand">
          <span className="logo" aria-hidden="true" />
          Baton
        </NavLink>
        <nav>
          {SECTIONS.map(([path, label]) => (
            <NavLink key={path} to={`${base}/${path}`}>
              {label}
            </NavLink>
          ))}
        </nav>
        <div className="spacer" />
        <NamespacePicker key={namespace} namespace={namespace} />
        <button type="button" className="key-button" onClick={apiKeyStore.open}>
          {hasKey ? 'API key ✓' : 'API key'}
        </button>
      </header>
      <main>
        <Outlet />
      </main>
      <KeyForm />
    </div>
  );
}
