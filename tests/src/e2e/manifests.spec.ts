import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { YAML11_SCHEMA, loadAll } from 'js-yaml';
import { buildConfig, loadConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { configToEnv } from '../index';

/*
 * The deployment files, checked offline: no cluster, no network, no kubectl
 * or kustomize. Each Kubernetes object is validated against the API's
 * OpenAPI schema (and the Prometheus Operator's CRDs) through the classes of
 * kubernetes-models; then the checks Kubernetes itself cannot make: that the
 * objects fit together and keep Baton's rules (non-root, probes, migrations
 * first, secrets that exist).
 */

const ROOT = join(__dirname, '..', '..', '..');
const K8S = join(ROOT, 'infra', 'k8s');
const KUSTOMIZATION = 'kustomization.yaml';
/** Shows the Secrets to create out of band; never applied (it would overwrite them). */
const SECRET_EXAMPLE = 'secret.example.yaml';
/** Created out of band (docs/operations.md), so no manifest here creates them. */
const OUT_OF_BAND_SECRETS = ['baton-db', 'baton-admin-key'];
const NAMESPACE = 'baton';
const SERVICE_ACCOUNT = 'baton';
/** The migration CLI: the Job runs it; every Deployment's init container runs it with --wait. */
const MIGRATE = ['node', 'libs/persistence/dist/migrate.cli.js'] as const;
/** YAML 1.1, as Kubernetes (sigs.k8s.io/yaml) and Compose read it: merge keys, `yes`/`on` booleans. */
const parseAll = (text: string) => loadAll(text, { schema: YAML11_SCHEMA }).filter((doc) => doc != null);

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext?: SecurityContext;
}
interface PodTemplate {
  metadata: { labels: Labels };
  spec: {
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    enableServiceLinks?: boolean;
    securityContext?: SecurityContext;
    initContainers?: Container[];
    containers: Container[];
  };
}
interface PortRef {
  port?: string | number;
}
/** The fields these checks read; the schema validation vouches for their types. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
  data?: Record<string, string>;
  automountServiceAccountToken?: boolean;
  spec: {
    replicas?: number;
    /** A label selector; a Service's is a plain map of labels. */
    selector?: Selector;
    template?: PodTemplate;
    scaleTargetRef?: { kind: string; name: string };
    ports?: { name: string; targetPort: string | number }[];
    podSelector?: Selector;
    ingress?: { ports?: PortRef[] }[];
    endpoints?: PortRef[];
    podMetricsEndpoints?: PortRef[];
  };
}
interface Manifest {
  file: string;
  object: K8sObject;
}

const manifestFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== KUSTOMIZATION);
const manifests: Manifest[] = manifestFiles.flatMap((file) =>
  parseAll(readFileSync(join(K8S, file), 'utf8')).map((doc) => ({ file, object: doc as K8sObject })),
);
const kustomization = parseAll(readFileSync(join(K8S, KUSTOMIZATION), 'utf8'))[0] as {
  namespace: string;
  resources: string[];
  images: { name: string }[];
};
/** What `kubectl apply -k` creates. */
const applied = manifests.filter((m) => kustomization.resources.includes(m.file)).map((m) => m.object);
const ofKind = (kind: string) => applied.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => ofKind(kind).find((o) => o.metadata.name === name);
const deployments = ofKind('Deployment');
/** Every pod template: the Deployments' and the migration Job's. */
const workloads = [...deployments, ...ofKind('Job')];
const where = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
const allContainers = (t: PodTemplate) => [...(t.spec.initContainers ?? []), ...t.spec.containers];

function selects(selector: Selector | undefined, labels: Labels): boolean {
  if (!selector) return false;
  const matchLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    matchLabels &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      if (operator === 'In') return values.includes(labels[key]!);
      if (operator === 'NotIn') return !values.includes(labels[key]!);
      return operator === 'Exists' ? key in labels : !(key in labels);
    })
  );
}

/** The Deployments whose pods `selector` picks. */
const podsSelectedBy = (selector: Selector | undefined) =>
  deployments.filter((d) => selects(selector, d.spec.template!.metadata.labels));

/** Whether the pod serves `port`: a container port of that name or number. */
const servesPort = (t: PodTemplate, port: string | number | undefined) =>
  t.spec.containers.some((c) =>
    (c.ports ?? []).some((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port)),
  );

/**
 * kubernetes-models ships ES modules only, which this CommonJS test runtime
 * cannot load; a child Node validates the objects and names every problem.
 */
const SCHEMA_CHECK = `
let input = '';
for await (const chunk of process.stdin) input += chunk;
const problems = [];
for (const { where, apiVersion, kind, object } of JSON.parse(input)) {
  const pkg = apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  try {
    const Model = (await import(pkg + '/' + apiVersion + '/' + kind))[kind];
    new Model(object).validate();
  } catch (err) {
    problems.push(where + ': ' + err.message);
  }
}
process.stdout.write(JSON.stringify(problems));
`;

/** Runs `check`, which reports what is wrong; a failure then names every problem at once. */
function problems(check: (report: (problem: string) => void) => void): string[] {
  const found: string[] = [];
  check((problem) => found.push(problem));
  return found;
}

describe('Kubernetes manifests (infra/k8s)', () => {
  test('every object is valid against the Kubernetes and Prometheus Operator schemas', () => {
    const objects = manifests.map(({ file, object }) => ({
      where: `${file}: ${where(object)}`,
      apiVersion: object.apiVersion,
      kind: object.kind,
      object,
    }));
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', SCHEMA_CHECK], {
      cwd: join(ROOT, 'tests'),
      input: JSON.stringify(objects),
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`the schema check failed: ${child.stderr}`);
    expect(JSON.parse(child.stdout)).toEqual([]);
    expect(objects.length).toBeGreaterThan(10);
  });

  test('the kustomization lists every manifest, all in the baton namespace with the baton image', () => {
    expect([...kustomization.resources].sort()).toEqual(manifestFiles.filter((f) => f !== SECRET_EXAMPLE).sort());
    expect(kustomization.namespace).toBe(NAMESPACE);
    const images = workloads.flatMap((w) => allContainers(w.spec.template!).map((c) => c.image.split(':')[0]));
    expect([...new Set(images)]).toEqual(kustomization.images.map((i) => i.name));
    const elsewhere = problems((report) => {
      for (const o of applied) {
        if (o.kind !== 'Namespace' && o.metadata.namespace !== NAMESPACE) report(`${where(o)} is not in ${NAMESPACE}`);
      }
    });
    expect(elsewhere).toEqual([]);
  });

  test('each Deployment selects its own pods and no other', () => {
    const wrong = problems((report) => {
      for (const d of deployments) {
        const selected = podsSelectedBy(d.spec.selector).map(where);
        if (selected.join() !== where(d)) report(`${where(d)} selects the pods of ${selected.join(', ') || 'nothing'}`);
      }
    });
    expect(wrong).toEqual([]);
  });

  test('Services, autoscalers, disruption budgets and monitors point at pods and ports that exist', () => {
    const dangling = problems((report) => {
      for (const svc of ofKind('Service')) {
        const selected = podsSelectedBy({ matchLabels: svc.spec.selector as unknown as Labels });
        if (selected.length !== 1) report(`${where(svc)} selects ${selected.length} Deployments' pods`);
        for (const { targetPort } of svc.spec.ports ?? []) {
          if (!selected.every((d) => servesPort(d.spec.template!, targetPort)))
            report(`${where(svc)}: no port ${targetPort}`);
        }
      }
      for (const hpa of ofKind('HorizontalPodAutoscaler')) {
        const target = named(hpa.spec.scaleTargetRef!.kind, hpa.spec.scaleTargetRef!.name);
        if (!target) report(`${where(hpa)} scales nothing`);
        // replicas in the Deployment would reset the autoscaler's count at every apply.
        else if (target.spec.replicas !== undefined) report(`${where(target)} sets replicas under ${where(hpa)}`);
      }
      for (const pdb of ofKind('PodDisruptionBudget')) {
        if (podsSelectedBy(pdb.spec.selector).length !== 1) report(`${where(pdb)} does not cover one Deployment`);
      }
      for (const monitor of ofKind('ServiceMonitor')) {
        const services = ofKind('Service').filter((svc) => selects(monitor.spec.selector, svc.metadata.labels ?? {}));
        if (services.length === 0) report(`${where(monitor)} selects no Service`);
        for (const { port } of monitor.spec.endpoints ?? []) {
          for (const svc of services) {
            if (!(svc.spec.ports ?? []).some((p) => p.name === port))
              report(`${where(monitor)}: ${where(svc)} has no port ${port}`);
          }
        }
      }
      for (const monitor of ofKind('PodMonitor')) {
        const pods = podsSelectedBy(monitor.spec.selector);
        if (pods.length === 0) report(`${where(monitor)} selects no pods`);
        for (const { port } of monitor.spec.podMetricsEndpoints ?? []) {
          for (const d of pods)
            if (!servesPort(d.spec.template!, port)) report(`${where(monitor)}: ${where(d)} has no port ${port}`);
        }
      }
    });
    expect(dangling).toEqual([]);
  });

  test('NetworkPolicies isolate every Baton pod and open only ports the selected pods serve', () => {
    const policies = ofKind('NetworkPolicy');
    const wrong = problems((report) => {
      for (const w of workloads) {
        if (!policies.some((p) => selects(p.spec.podSelector, w.spec.template!.metadata.labels))) {
          report(`no NetworkPolicy selects the pods of ${where(w)}`);
        }
      }
      for (const policy of policies) {
        const ports = (policy.spec.ingress ?? []).flatMap((rule) => (rule.ports ?? []).map((p) => p.port));
        for (const d of podsSelectedBy(policy.spec.podSelector)) {
          for (const port of ports)
            if (!servesPort(d.spec.template!, port))
              report(`${where(policy)} opens ${port}, which ${where(d)} does not serve`);
        }
      }
    });
    expect(wrong).toEqual([]);
  });

  test('every ConfigMap, Secret and ServiceAccount a pod uses is created here or documented to create', () => {
    const operations = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const example = parseAll(readFileSync(join(K8S, SECRET_EXAMPLE), 'utf8')) as K8sObject[];
    for (const secret of OUT_OF_BAND_SECRETS) {
      expect(operations).toContain(`create secret generic ${secret}`);
      expect(example.map((s) => s.metadata.name)).toContain(secret);
    }
    const missing = problems((report) => {
      for (const w of workloads) {
        const account = w.spec.template!.spec.serviceAccountName;
        if (!account || !named('ServiceAccount', account)) report(`${where(w)} uses ServiceAccount ${account}`);
        for (const c of allContainers(w.spec.template!)) {
          for (const { configMapRef, secretRef } of c.envFrom ?? []) {
            if (configMapRef && !named('ConfigMap', configMapRef.name))
              report(`${where(w)} uses ConfigMap ${configMapRef.name}`);
            if (secretRef && !OUT_OF_BAND_SECRETS.includes(secretRef.name))
              report(`${where(w)} uses Secret ${secretRef.name}`);
          }
        }
      }
    });
    expect(missing).toEqual([]);
  });

  test('every container runs as non-root on a read-only root filesystem, without privileges or API token', () => {
    expect(named('ServiceAccount', SERVICE_ACCOUNT)?.automountServiceAccountToken).toBe(false);
    const unsafe = problems((report) => {
      for (const w of workloads) {
        const pod = w.spec.template!.spec;
        if (pod.serviceAccountName !== SERVICE_ACCOUNT)
          report(`${where(w)} runs as ServiceAccount ${pod.serviceAccountName}`);
        if (pod.automountServiceAccountToken !== false) report(`${where(w)} mounts an API token`);
        if (pod.enableServiceLinks !== false) report(`${where(w)} gets Service links in its environment`);
        for (const c of allContainers(w.spec.template!)) {
          const sc = { ...pod.securityContext, ...c.securityContext };
          const at = `${where(w)} container ${c.name}`;
          if (sc.runAsNonRoot !== true || sc.runAsUser === 0) report(`${at} may run as root`);
          if (sc.readOnlyRootFilesystem !== true) report(`${at} may write its root filesystem`);
          if (sc.allowPrivilegeEscalation !== false) report(`${at} may escalate privileges`);
          if (sc.capabilities?.drop?.join() !== 'ALL') report(`${at} keeps capabilities`);
        }
      }
    });
    expect(unsafe).toEqual([]);
  });

  test('probes: startup and liveness on /healthz, readiness on /readyz, each on a named port of its container', () => {
    const expected = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' } as const;
    const wrong = problems((report) => {
      for (const d of deployments) {
        for (const c of d.spec.template!.spec.containers) {
          for (const [probe, path] of Object.entries(expected) as [keyof typeof expected, string][]) {
            const get = c[probe]?.httpGet;
            if (get?.path !== path) report(`${where(d)} ${probe} is not GET ${path}`);
            if (typeof get?.port !== 'string' || !servesPort(d.spec.template!, get.port)) {
              report(`${where(d)} ${probe} does not name a port of the container`);
            }
          }
        }
      }
    });
    expect(wrong).toEqual([]);
  });

  test('migrations first: the Job applies them, every Deployment waits for them, no app runs them', () => {
    const jobs = ofKind('Job');
    expect(jobs.map((j) => j.spec.template!.spec.containers[0]!.command)).toEqual([[...MIGRATE]]);
    const waiting = deployments.map((d) => (d.spec.template!.spec.initContainers ?? []).map((c) => c.command));
    expect(waiting).toEqual(deployments.map(() => [[...MIGRATE, '--wait']]));
    for (const cm of ofKind('ConfigMap')) expect(cm.data?.BATON_RUN_MIGRATIONS).toBe('false');
  });

  test('every command runs an entry point of this repository', () => {
    const unknown = problems((report) => {
      for (const w of workloads) {
        for (const c of allContainers(w.spec.template!)) {
          if (!entryPointExists(c.command)) report(`${where(w)} container ${c.name}: ${c.command?.join(' ')}`);
        }
      }
    });
    expect(unknown).toEqual([]);
  });

  test('the ConfigMap holds only settings the config knows, with values it accepts', () => {
    for (const cm of ofKind('ConfigMap')) {
      expect(Object.keys(cm.data ?? {}).filter((name) => !KNOWN_VARIABLES.includes(name))).toEqual([]);
      expect(() => loadConfig({ ...cm.data, DATABASE_URL: 'postgres://baton@postgres:5432/baton' })).not.toThrow();
    }
  });
});

/** `node <file>.js` where the file is built from a source of this repository (dist/x.js from src/x.ts). */
function entryPointExists(command: string[] | undefined): boolean {
  const [node, script] = command ?? [];
  return (
    node === 'node' && !!script && existsSync(join(ROOT, script.replace('/dist/', '/src/').replace(/\.js$/, '.ts')))
  );
}

/** Every variable the config reads: the harness hands each one to a child app, optional ones when set. */
const KNOWN_VARIABLES = Object.keys(
  configToEnv({
    ...buildConfig(),
    ...Object.fromEntries(
      [
        'databaseUrl',
        'natsUrl',
        'adminKey',
        'tlsCertFile',
        'tlsKeyFile',
        'tlsClientCaFile',
        'natsUser',
        'natsPassword',
        'natsToken',
        'natsCredsFile',
        'natsNkeySeedFile',
        'natsTlsCaFile',
        'natsTlsCertFile',
        'natsTlsKeyFile',
      ].map((field) => [field, 'set']),
    ),
  } as BatonConfig),
);

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: string[] | Record<string, { condition?: string }>;
}

describe('Compose file (infra/compose/compose.yaml)', () => {
  const compose = parseAll(readFileSync(join(ROOT, 'infra', 'compose', 'compose.yaml'), 'utf8'))[0] as {
    services: Record<string, ComposeService>;
  };
  const services = Object.entries(compose.services);
  const batonApps = services.filter(([, s]) => s.command?.[1]?.startsWith('apps/'));

  test('every service has an image or a build, and depends only on services that exist', () => {
    const wrong = problems((report) => {
      for (const [name, service] of services) {
        if (!service.image && !service.build) report(`${name} has neither image nor build`);
        const dependencies = Array.isArray(service.depends_on)
          ? service.depends_on
          : Object.keys(service.depends_on ?? {});
        for (const dependency of dependencies)
          if (!compose.services[dependency]) report(`${name} depends on ${dependency}`);
      }
    });
    expect(wrong).toEqual([]);
  });

  test('the four apps run entry points of this repository, after the migration, without migrating', () => {
    expect(batonApps.map(([name]) => name).sort()).toEqual(['frontend', 'matching', 'scheduler', 'watchdog']);
    expect(compose.services.migrate?.command).toEqual([...MIGRATE]);
    const wrong = problems((report) => {
      for (const [name, service] of batonApps) {
        if (!entryPointExists(service.command)) report(`${name} runs ${service.command?.join(' ')}`);
        const dependsOn = service.depends_on as Record<string, { condition?: string }>;
        if (dependsOn.migrate?.condition !== 'service_completed_successfully')
          report(`${name} may start before migrate ends`);
        if (service.environment?.BATON_RUN_MIGRATIONS !== 'false') report(`${name} runs migrations`);
      }
    });
    expect(wrong).toEqual([]);
  });

  test('the frontend gets BATON_ADMIN_KEY, and every variable is one the config knows', () => {
    expect(compose.services.frontend?.environment?.BATON_ADMIN_KEY).toMatch(/^\$\{BATON_ADMIN_KEY:\?/);
    for (const [, service] of batonApps) {
      const environment = Object.entries(service.environment ?? {});
      expect(environment.map(([name]) => name).filter((name) => !KNOWN_VARIABLES.includes(name))).toEqual([]);
      // Values taken from the shell (${...}) are checked when compose runs.
      const literal = environment.filter(([, value]) => !value.includes('${'));
      expect(() => loadConfig(Object.fromEntries(literal))).not.toThrow();
    }
  });
});

describe('Image (infra/Dockerfile)', () => {
  const dockerfile = readFileSync(join(ROOT, 'infra', 'Dockerfile'), 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  test('builds on a supported Node LTS and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-bookworm-slim$/m);
    const user = /^USER (\S+)$/m.exec(runtime)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
  });

  test('the runtime stage holds only the production deploys, not the workspace', () => {
    const copies = runtime.split('\n').filter((line) => line.startsWith('COPY'));
    expect(copies).toEqual(['COPY --from=build /out /app']);
    expect(dockerfile).toMatch(/--prod deploy/);
  });
});
