/**
 * What this Berth is and how clients reach it: version, storage and its use, authentication,
 * the configuration summary (the API never includes secrets), TLS and the private CA with the
 * commands that make docker and podman trust it.
 */
import { useApp } from '../app-state';
import { CopyButton, CopyField } from '../components/copy';
import { Badge, Loading, PageHeader, Section, Time } from '../components/ui';
import {
  caDownloadCommand,
  clientSetupCommands,
  formatBytes,
  formatCount,
  formatDateTime,
  formatSeconds,
} from '../format';
import type { SystemInfo } from '../types';

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
  const { host } = useApp();
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
                <dd>{formatBytes(s.storage.bytes)}</dd>
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
