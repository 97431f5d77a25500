/**
 * What this Berth is and how clients reach it: version, storage and its use, authentication,
 * the configuration summary (the API never includes secrets), TLS and the private CA with the
 * commands that make docker and podman trust it. Administrators also see garbage collection:
 * what it would reclaim now, its last runs, and a button that runs it after a dry-run preview.
 */
import { useEffect, useState } from 'preact/hooks';
import { post, query, useResource } from '../api';
import { useApp } from '../app-state';
import { useAttempt } from '../components/actions';
import { ConfirmDialog } from '../components/dialog';
import { CopyButton, CopyField } from '../components/copy';
import {
  Badge,
  Bytes,
  EmptyState,
  ErrorMessage,
  Loaded,
  Loading,
  PageHeader,
  Section,
  TableWrap,
  Time,
} from '../components/ui';
import {
  caDownloadCommand,
  clientSetupCommands,
  formatBytes,
  formatCount,
  formatDateTime,
  formatDuration,
  formatRemoved,
  formatSeconds,
  shortDigest,
} from '../format';
import { manifestHref } from '../paths';
import { Link } from '../router';
import type { GcReport, GcRun, GcRuns, SystemInfo } from '../types';

export function SystemPage() {
  const { system } = useApp();
  return (
    <>
      <PageHeader title="System" />
      {system ? <SystemBody system={system} /> : <Loading what="the system summary" />}
    </>
  );
}

function YesNo(props: { value: boolean }) {
  return props.value ? <Badge tone="good">yes</Badge> : <Badge>no</Badge>;
}

function SystemBody(props: { system: SystemInfo }) {
  const s = props.system;
  const { host, session } = useApp();
  return (
    <>
      <div class="columns">
        <Section title="Registry">
          <dl class="facts">
            <dt>Version</dt>
            <dd>{s.version}</dd>
            <dt>Address for clients</dt>
            <dd>
              <code>{host}</code>
              {s.externalUrl === null && <span class="muted"> (this page’s address)</span>}
            </dd>
            <dt>External URL</dt>
            <dd>{s.externalUrl ?? <span class="muted">not set (taken from each request)</span>}</dd>
            <dt>Default namespace</dt>
            <dd>
              <code>{s.registry.defaultNamespace}</code>
            </dd>
            <dt>Largest manifest</dt>
            <dd>{formatBytes(s.registry.maxManifestBytes)}</dd>
            <dt>Checks manifest references</dt>
            <dd>
              <YesNo value={s.registry.verifyManifestReferences} />
            </dd>
          </dl>
        </Section>
        <Section title="Storage">
          <dl class="facts">
            <dt>Backend</dt>
            <dd>{s.storage.backend}</dd>
            {s.storage.bytes !== undefined && (
              <>
                <dt>Used</dt>
                <dd>
                  <Bytes bytes={s.storage.bytes} />
                </dd>
              </>
            )}
            {s.storage.blobs !== undefined && (
              <>
                <dt>Blobs</dt>
                <dd>{formatCount(s.storage.blobs)}</dd>
              </>
            )}
          </dl>
        </Section>
        <Section title="Authentication">
          <dl class="facts">
            <dt>Enabled</dt>
            <dd>
              {s.auth.enabled ? (
                <Badge tone="good">yes</Badge>
              ) : (
                <Badge tone="bad">off: everyone may do everything</Badge>
              )}
            </dd>
            {s.auth.service !== null && (
              <>
                <dt>Token service</dt>
                <dd>
                  <code>{s.auth.service}</code>
                </dd>
              </>
            )}
            <dt>Registry token lifetime</dt>
            <dd>{formatSeconds(s.auth.tokenTtlSeconds)}</dd>
          </dl>
        </Section>
      </div>
      {session.isAdmin && <GarbageCollection />}
      <Tls system={s} host={host} />
    </>
  );
}

function Tls(props: { system: SystemInfo; host: string }) {
  const tls = props.system.tls;
  const { host } = props;
  if (!tls) {
    return (
      <Section title="TLS">
        <p class="muted">This server does not report its TLS status.</p>
      </Section>
    );
  }
  return (
    <Section title="TLS">
      <dl class="facts">
        <dt>HTTPS</dt>
        <dd>
          {tls.enabled ? <Badge tone="good">on</Badge> : <Badge tone="warn">off: plain HTTP</Badge>}
        </dd>
        {tls.certificate && (
          <>
            <dt>Certificate for</dt>
            <dd>
              {[...tls.certificate.dnsNames, ...tls.certificate.ipAddresses].join(', ') ||
                tls.certificate.subject}
            </dd>
            <dt>Issued by</dt>
            <dd class="break">{tls.certificate.issuer.replace(/\n/g, ', ')}</dd>
            <dt>Valid until</dt>
            <dd>
              {formatDateTime(tls.certificate.notAfter)} (<Time at={tls.certificate.notAfter} />)
            </dd>
          </>
        )}
        {tls.caFingerprint != null && (
          <>
            <dt>CA fingerprint (SHA-256)</dt>
            <dd>
              <code class="break">{tls.caFingerprint}</code>
            </dd>
          </>
        )}
      </dl>
      {tls.enabled && tls.caAvailable && (
        <>
          <h3>Trust this registry’s CA</h3>
          <p>
            <a class="button" href="/ca.crt" download="ca.crt">
              Download the CA certificate
            </a>
          </p>
          <p>Or fetch it on the client; the fingerprint it prints must match the one above:</p>
          <CopyField text={caDownloadCommand(host)} label="CA download command" />
          <p>Then, in the directory holding ca.crt:</p>
          {clientSetupCommands(host).map((set) => (
            <div key={set.client} class="command-set">
              <h4>{set.client}</h4>
              <ul class="commands">
                {set.commands.map((command) => (
                  <li key={command}>
                    <CopyField text={command} label={command} />
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </>
      )}
      {props.system.clientSetup != null && (
        <details class="more">
          <summary>Every client: docker, podman, containerd, k3s and kind</summary>
          <pre class="setup-text">{props.system.clientSetup}</pre>
          <CopyButton text={props.system.clientSetup} label="client set-up for every client" />
        </details>
      )}
      {tls.enabled && !tls.caAvailable && (
        <p>
          The certificate comes from outside Berth; clients trust it if they trust its issuer. Sign
          in with <code>docker login {host}</code>.
        </p>
      )}
      {!tls.enabled && (
        <>
          <p>
            Docker accepts plain HTTP only on 127.0.0.0/8; elsewhere add the registry to{' '}
            <code>insecure-registries</code> in <code>/etc/docker/daemon.json</code>, or give podman
            and skopeo <code>--tls-verify=false</code>. Better: run{' '}
            <code>berth cert --host NAME</code> and restart to serve HTTPS.
          </p>
          <CopyField text={`docker login ${host}`} label="docker login command" />
        </>
      )}
    </Section>
  );
}

const TRIGGERS: Readonly<Record<GcRun['trigger'], string>> = {
  api: 'from the UI or API',
  cli: 'berth gc',
  schedule: 'scheduled',
};

const STATUS_TONES = {
  running: 'info',
  done: 'good',
  failed: 'bad',
  abandoned: 'warn',
} as const satisfies Record<GcRun['status'], string>;

/** How often the runs list refreshes while a collection runs (started here or elsewhere). */
const RUNNING_REFRESH_MS = 2000;

/**
 * Online garbage collection: pushes and pulls go on while it runs. "Check" is a dry run (it
 * removes nothing and reports what a real run would); "Collect garbage" shows such a preview
 * before it asks, then runs for real and reports what it removed.
 */
function GarbageCollection() {
  const { reloadSystem } = useApp();
  const gc = useResource<GcRuns>('/gc');
  const [estimate, setEstimate] = useState<GcRun | null>(null);
  const [checking, setChecking] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [collected, setCollected] = useState<GcRun | null>(null);
  const { error, attempt } = useAttempt();
  const running = gc.data?.running ?? null;

  useEffect(() => {
    if (running === null) return;
    const timer = window.setInterval(gc.reload, RUNNING_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [running?.id]);

  // Until someone checks, the newest finished run tells: a dry run's estimate still holds if no
  // collection ran after it.
  const newest = gc.data?.runs.find((run) => run.status === 'done') ?? null;
  const shown = estimate ?? (newest?.dryRun === true ? newest : null);

  async function check(): Promise<void> {
    setChecking(true);
    setCollected(null);
    await attempt(async () => {
      setEstimate(await post<GcRun>(`/gc${query({ dryRun: true })}`));
      gc.reload();
    });
    setChecking(false);
  }

  return (
    <Section
      title="Garbage collection"
      actions={
        <div class="form-buttons">
          <button type="button" class="button" disabled={checking} onClick={() => void check()}>
            {checking ? 'Checking…' : 'Check'}
          </button>
          <button
            type="button"
            class="button primary"
            disabled={running !== null}
            onClick={() => {
              setCollected(null);
              setConfirming(true);
            }}
          >
            Collect garbage
          </button>
        </div>
      }
    >
      <p>
        Applies the namespaces’ retention policies, then removes manifests and layers that no tag or
        image uses any more, and abandoned uploads, while pushes and pulls go on. It also runs on
        the configured schedule.
      </p>
      <dl class="facts">
        <dt>Reclaimable now</dt>
        <dd>
          {shown?.report ? (
            <>
              <strong>
                <Bytes bytes={shown.report.bytes} />
              </strong>
              : {formatRemoved(shown.report)} <span class="muted">(checked </span>
              <Time at={shown.finishedAt ?? shown.startedAt} />
              <span class="muted">)</span>
            </>
          ) : newest !== null ? (
            <span class="muted">
              not checked since the last collection (<Time at={newest.startedAt} />)
            </span>
          ) : (
            <span class="muted">not checked yet: Check runs a dry run that removes nothing</span>
          )}
        </dd>
        {running !== null && (
          <>
            <dt>Running</dt>
            <dd>
              <Badge tone="info">running</Badge> since <Time at={running.startedAt} />,{' '}
              {TRIGGERS[running.trigger]}
            </dd>
          </>
        )}
      </dl>
      <ErrorMessage error={error} />
      {collected && <Collected run={collected} />}
      <h3>Last runs</h3>
      <Loaded resource={gc} what="the last collections">
        {({ runs }) =>
          runs.length === 0 ? (
            <EmptyState title="No collection has run yet." />
          ) : (
            <GcRunTable runs={runs} />
          )
        }
      </Loaded>
      {confirming && (
        <CollectDialog
          onClose={() => setConfirming(false)}
          onPreview={(run) => {
            setEstimate(run);
            gc.reload();
          }}
          onCollected={(run) => {
            setCollected(run);
            setEstimate(null);
            gc.reload();
            // What is stored (the Storage panel above) just went down.
            reloadSystem();
          }}
        />
      )}
    </Section>
  );
}

/** The outcome of a collection run from this page: what it freed, or why it failed. */
function Collected(props: { run: GcRun }) {
  const { run } = props;
  const report = run.report;
  if (run.status === 'failed' || !report) {
    return (
      <ErrorMessage
        error={`The collection failed: ${report?.error ?? 'the registry log says why'}.`}
      />
    );
  }
  return (
    <p class="success" role="status">
      Garbage collected: removed {formatRemoved(report)} and freed <Bytes bytes={report.bytes} /> in{' '}
      {formatDuration(report.durationMs)}.
    </p>
  );
}

/**
 * Asks before collecting, with a fresh dry run's numbers in the question; the button is ready
 * once they are in. Blobs within the grace period are spared by both, so a push in progress
 * never loses its layers.
 */
function CollectDialog(props: {
  onClose: () => void;
  onPreview: (run: GcRun) => void;
  onCollected: (run: GcRun) => void;
}) {
  const [preview, setPreview] = useState<GcRun | null>(null);
  const { error, attempt } = useAttempt();

  useEffect(() => {
    void attempt(async () => {
      const run = await post<GcRun>(`/gc${query({ dryRun: true })}`);
      setPreview(run);
      props.onPreview(run);
    });
  }, []);

  const report = preview?.report ?? null;
  return (
    <ConfirmDialog
      title="Collect garbage?"
      confirmLabel="Collect garbage"
      ready={report !== null}
      onClose={props.onClose}
      onConfirm={async () => {
        props.onCollected(await post<GcRun>('/gc'));
      }}
    >
      {report ? (
        <>
          <p>
            A dry run just now found{' '}
            <strong>
              <Bytes bytes={report.bytes} />
            </strong>{' '}
            to reclaim: {formatRemoved(report)}.
          </p>
          <p class="hint">
            {report.graceMs > 0
              ? `What was uploaded or last used within the past ${formatDuration(report.graceMs)} stays, so pushes in progress are safe.`
              : 'The grace period is 0: layers a push in progress has uploaded can go too.'}{' '}
            Removed images cannot be pulled again.
          </p>
          <RemovedManifests report={report} />
        </>
      ) : error !== null ? (
        <ErrorMessage error={error} />
      ) : (
        <Loading what="a preview of what would go" />
      )}
    </ConfirmDialog>
  );
}

/** The manifests a dry run found, each a link to its page (they are still there to look at). */
function RemovedManifests(props: { report: GcReport }) {
  const removed = props.report.removed;
  if (!removed || removed.manifests.length === 0) return null;
  return (
    <details class="more">
      <summary>
        Manifests that go ({formatCount(props.report.manifests)}
        {removed.truncated ? ', the first listed' : ''})
      </summary>
      <ul class="plain-list">
        {removed.manifests.map((name) => {
          const at = name.lastIndexOf('@');
          const repository = name.slice(0, at);
          const digest = name.slice(at + 1);
          return (
            <li key={name}>
              <Link href={manifestHref(repository, digest)} class="mono">
                {repository}@{shortDigest(digest)}
              </Link>
            </li>
          );
        })}
      </ul>
    </details>
  );
}

function GcRunTable(props: { runs: GcRun[] }) {
  return (
    <TableWrap label="Garbage collection runs" stack>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Run</th>
          <th scope="col">Status</th>
          <th scope="col">Removed</th>
          <th scope="col" class="num">
            Freed
          </th>
          <th scope="col" class="num">
            Took
          </th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map((run) => (
          <tr key={run.id}>
            <th scope="row">
              <Time at={run.startedAt} />
            </th>
            <td data-label="Run">
              {run.dryRun ? 'dry run' : 'collection'}{' '}
              <span class="muted">{TRIGGERS[run.trigger]}</span>
            </td>
            <td data-label="Status">
              <Badge tone={STATUS_TONES[run.status]}>{run.status}</Badge>
              {run.report?.error !== undefined && <span class="muted"> {run.report.error}</span>}
            </td>
            <td data-label="Removed">
              {run.report ? (
                <>
                  {run.dryRun && <span class="muted">would remove </span>}
                  {formatRemoved(run.report)}
                </>
              ) : (
                <span class="muted">—</span>
              )}
            </td>
            <td class={run.dryRun ? 'num muted' : 'num'} data-label="Freed">
              {run.report ? <Bytes bytes={run.report.bytes} /> : '—'}
            </td>
            <td class="num" data-label="Took">
              {run.report ? formatDuration(run.report.durationMs) : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </TableWrap>
  );
}
