/**
 * The parts of the namespace pages for proxy and group namespaces: the kind badge, the upstream's
 * state, and the inputs of a proxy's settings and a group's members that the create form and the
 * settings form share.
 */
import { useState } from 'preact/hooks';
import { moveItem, upstreamState, type ProxyFields } from '../federation';
import type { NamespaceKind, ProxySettings } from '../types';
import { Badge, Time } from './ui';

const KIND_TONES = { hosted: 'neutral', proxy: 'info', group: 'good' } as const;

export function KindBadge(props: { kind: NamespaceKind }) {
  return <Badge tone={KIND_TONES[props.kind]}>{props.kind}</Badge>;
}

/** A warning badge for a proxy whose upstream failed last; nothing otherwise. */
export function UpstreamBadge(props: { proxy: ProxySettings | null }) {
  if (props.proxy === null || upstreamState(props.proxy.health) !== 'failing') return null;
  return <Badge tone="warn">upstream failing</Badge>;
}

/**
 * The upstream's last success and failure as facts, and a warning when it failed last: pulls of
 * what is cached still work (served stale), what is not cached fails until it answers again.
 */
export function UpstreamHealthFacts(props: { proxy: ProxySettings }) {
  const { health } = props.proxy;
  const state = upstreamState(health);
  return (
    <>
      <dl class="facts">
        <dt>Last success</dt>
        <dd>
          <Time at={health.lastSuccessAt} fallback="none since the registry started" />
        </dd>
        <dt>Last failure</dt>
        <dd>
          <Time at={health.lastFailureAt} fallback="none since the registry started" />
          {health.lastFailure !== null && (
            <>
              {': '}
              <span class="break">{health.lastFailure}</span>
            </>
          )}
        </dd>
      </dl>
      {state === 'failing' && (
        <p class="warning" role="status">
          The upstream failed at its last request: {health.lastFailure ?? 'no answer'}. Cached
          images are still served; anything not cached cannot be pulled until it answers again.
        </p>
      )}
      {state === 'unknown' && (
        <p class="hint">Nothing was pulled through this proxy since the registry started.</p>
      )}
    </>
  );
}

/**
 * URL, credentials and TTL of a proxy: a new one (`stored` null) or one whose `stored` settings
 * are being changed, where an empty password keeps the stored one.
 */
export function ProxyInputs(props: {
  idPrefix: string;
  fields: ProxyFields;
  stored: ProxySettings | null;
  onChange: (fields: ProxyFields) => void;
}) {
  const { fields, idPrefix: id } = props;
  const editing = props.stored !== null;
  const set = (key: keyof ProxyFields, value: string): void =>
    props.onChange({ ...fields, [key]: value });
  return (
    <div class="form-row">
      <div class="field grow">
        <label for={`${id}-url`}>Upstream URL</label>
        <input
          id={`${id}-url`}
          type="url"
          required
          autocomplete="off"
          spellcheck={false}
          placeholder="https://registry-1.docker.io"
          aria-describedby={`${id}-hint`}
          value={fields.url}
          onInput={(e) => set('url', e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${id}-username`}>Upstream username</label>
        <input
          id={`${id}-username`}
          autocomplete="off"
          spellcheck={false}
          placeholder="anonymous"
          value={fields.username}
          onInput={(e) => set('username', e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${id}-password`}>Upstream password</label>
        <input
          id={`${id}-password`}
          type="password"
          autocomplete="new-password"
          placeholder={(props.stored?.username ?? null) !== null ? 'unchanged' : ''}
          value={fields.password}
          onInput={(e) => set('password', e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${id}-ttl`}>Cache TTL</label>
        <input
          id={`${id}-ttl`}
          class="short"
          autocomplete="off"
          spellcheck={false}
          placeholder="6h"
          aria-describedby={`${id}-hint`}
          value={fields.ttl}
          onInput={(e) => set('ttl', e.currentTarget.value)}
        />
      </div>
      <p class="hint" id={`${id}-hint`}>
        The URL is the registry's address without a path (its <code>/v2/</code> is found there).
        Leave the username empty to pull anonymously
        {editing ? ', and the password empty to keep the stored one' : ''}. A cached tag is served
        for the TTL (<code>30m</code>, <code>6h</code>, <code>1d</code>
        {editing ? '' : '; default 6h'}), then the upstream is asked whether it moved.
      </p>
    </div>
  );
}

/**
 * A group's members in pull order (move up, move down, remove), a picker that adds one of the
 * `choices`, and the push member among the hosted members (`pushChoices`).
 */
export function MembersInputs(props: {
  idPrefix: string;
  members: string[];
  choices: string[];
  pushChoices: string[];
  pushTo: string;
  onMembers: (members: string[]) => void;
  onPushTo: (pushTo: string) => void;
}) {
  const { idPrefix: id, members } = props;
  const [adding, setAdding] = useState('');
  const next = props.choices.includes(adding) ? adding : (props.choices[0] ?? '');
  return (
    <fieldset class="stack-form">
      <legend>Members</legend>
      {members.length === 0 ? (
        <p class="muted">No members yet: add the namespaces to pull from, first one first.</p>
      ) : (
        <ol class="member-list" aria-label="Members in pull order">
          {members.map((member, i) => (
            <li key={member}>
              <span class="member-name">
                <span class="muted">{i + 1}.</span>{' '}
                <span class="truncate mono" title={member}>
                  {member}
                </span>
              </span>
              <span class="member-buttons">
                <button
                  type="button"
                  class="button subtle"
                  aria-label={`Move ${member} up`}
                  disabled={i === 0}
                  onClick={() => props.onMembers(moveItem(members, i, -1))}
                >
                  ↑
                </button>
                <button
                  type="button"
                  class="button subtle"
                  aria-label={`Move ${member} down`}
                  disabled={i === members.length - 1}
                  onClick={() => props.onMembers(moveItem(members, i, 1))}
                >
                  ↓
                </button>
                <button
                  type="button"
                  class="button subtle danger-text"
                  aria-label={`Remove ${member}`}
                  onClick={() => props.onMembers(members.filter((m) => m !== member))}
                >
                  Remove
                </button>
              </span>
            </li>
          ))}
        </ol>
      )}
      <div class="form-row">
        <div class="field">
          <label for={`${id}-add`}>Member to add</label>
          <select
            id={`${id}-add`}
            value={next}
            disabled={props.choices.length === 0}
            onChange={(e) => setAdding(e.currentTarget.value)}
          >
            {props.choices.length === 0 && <option value="">no other namespace</option>}
            {props.choices.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <button
          type="button"
          class="button"
          disabled={next === ''}
          onClick={() => {
            props.onMembers([...members, next]);
            setAdding('');
          }}
        >
          Add member
        </button>
        <div class="field">
          <label for={`${id}-push`}>Push member</label>
          <select
            id={`${id}-push`}
            aria-describedby={`${id}-push-hint`}
            value={props.pushChoices.includes(props.pushTo) ? props.pushTo : ''}
            onChange={(e) => props.onPushTo(e.currentTarget.value)}
          >
            <option value="">None: pushes are refused</option>
            {props.pushChoices.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <p class="hint" id={`${id}-push-hint`}>
        Pulls try the members in this order and answer from the first that has the image. Hosted and
        proxy namespaces can be members; only a hosted member can take the group's pushes.
      </p>
    </fieldset>
  );
}
