/**
 * `/incidents/{id}`: one incident as a district officer follows it. Its story in order (the
 * alerts, every SMS with what the operator's receipt said, the commands people sent and who sent
 * them, the visits and parts, the readings when it opened and when it was verified), its work
 * order with the targets (in red once passed), and, for operators, the buttons that move it:
 * plain forms posting to this site, as the SMS page's « Renvoyer ».
 */
import type { Borehole } from '../../config/registry.js';
import type { Incident, ReadingsSnapshot } from '../../incidents/incident.js';
import type { TimelineEntry } from '../../incidents/port.js';
import { maskPhones } from '../schemas.js';
import { timelineSmsState } from '../routes/incidents.js';
import { severityBadge } from './alerts-page.js';
import { ago, INCIDENT_EVENT_LABELS, INCIDENT_STATE_LABELS, number, plural, ruleTitle, SMS_KIND_LABELS, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';
import { SMS_STATE_LABELS } from './sms-page.js';
import { incidentStateBadge, repairOverdue, respondOverdue, targetCell } from './work-orders-page.js';

export interface IncidentView {
  incident: Incident;
  borehole: Borehole | undefined;
  timeline: readonly TimelineEntry[];
  /** An operator: sees phone numbers and the buttons. */
  canChange: boolean;
  format: Formatter;
  nowMs: number;
  /** This page's own URL, to come back to after an action. */
  here: string;
}

const ALERT_CHANGES: Record<'opened' | 'escalated' | 'acknowledged' | 'resolved', string> = {
  opened: 'ouverte',
  escalated: 'escaladée',
  acknowledged: 'acquittée',
  resolved: 'résolue',
};


/** A phone number named after the registry's contact of that borehole, when it is one. */
function personOf(phone: string, borehole: Borehole | undefined): string | null {
  if (!borehole) return null;
  const contacts = [...borehole.committee.contacts, borehole.technician, ...(borehole.backup_technician ? [borehole.backup_technician] : [])];
  return contacts.find((contact) => contact.phone === phone)?.name ?? null;
}

/** `sms:+223…` → « SMS de Président du comité (+223…) », in words an officer reads. */
export function actorLabel(actor: string, borehole: Borehole | undefined, showNumbers: boolean): string {
  const show = (text: string) => (showNumbers ? text : maskPhones(text));
  const person = (phone: string) => {
    const name = personOf(phone, borehole);
    if (name === null) return show(phone);
    return showNumbers ? `${name} (${phone})` : name;
  };
  if (actor === 'rules') return 'le système';
  if (actor === 'data') return 'les mesures';
  const [channel, ...rest] = actor.split(':');
  const who = rest.join(':');
  if (channel === 'sms') return `SMS de ${person(who)}`;
  if (channel === 'call') return `appel manqué de ${person(who)}`;
  if (channel === 'operator' || channel === 'api' || channel === 'web') return `opérateur (${who || 'inconnu'})`;
  return show(actor);
}

function snapshotText(snapshot: ReadingsSnapshot, borehole: Borehole | undefined, format: Formatter): SafeHtml {
  const parts: SafeHtml[] = [];
  if (snapshot.running !== null) parts.push(html`<li>Pompe ${snapshot.running ? 'en marche' : "à l'arrêt"}</li>`);
  if (snapshot.flowLpm !== null) parts.push(html`<li>Débit ${number(snapshot.flowLpm, 'l/min')}</li>`);
  if (snapshot.depthM !== null) {
    parts.push(html`<li>Niveau de l'eau à ${number(snapshot.depthM, 'm')}${borehole ? html` <span class="muted">(crépine à ${number(borehole.pump.intake_depth_m, 'm')})</span>` : ''}</li>`);
  }
  if (snapshot.lastTsMs !== null) parts.push(html`<li class="muted">dernière mesure le ${format.dateTimeOf(snapshot.lastTsMs)}</li>`);
  return parts.length === 0 ? html`<span class="muted">aucune mesure reçue</span>` : html`<ul class="plain snapshot">${parts}</ul>`;
}

function timelineRow(entry: TimelineEntry, view: IncidentView): SafeHtml {
  const { format, borehole, canChange } = view;
  const show = (text: string) => (canChange ? text : maskPhones(text));
  const when = html`<td data-label="Date"><span class="nowrap">${format.dateTimeOf(entry.atMs)}</span></td>`;
  switch (entry.kind) {
    case 'alert':
      return html`<tr class="timeline-row timeline-alert" data-kind="alert">${when}
        <td data-label="Quoi">Alerte n° ${entry.alert.code} ${ALERT_CHANGES[entry.change]}</td>
        <td data-label="Détail">${entry.alert.message} ${severityBadge(entry.alert)}${entry.actor !== 'rules' ? html`<br><span class="muted">par ${actorLabel(entry.actor, borehole, canChange)}</span>` : ''}</td>
      </tr>`;
    case 'sms': {
      const state = timelineSmsState(entry.status, entry.delivery);
      const name = personOf(entry.to, borehole);
      const to = name === null ? show(entry.to) : canChange ? `${name} (${entry.to})` : name;
      return html`<tr class="timeline-row timeline-sms sms-row-${state}" data-kind="sms" data-sms-state="${state}">${when}
        <td data-label="Quoi">SMS à ${to}<br><span class="muted">${SMS_KIND_LABELS[entry.smsKind] ?? entry.smsKind}</span></td>
        <td data-label="Détail">« ${entry.text} »<br><span class="sms-state sms-${state}">${SMS_STATE_LABELS[state]}</span>${
          entry.deliveryDetail ? html` <span class="muted">${show(entry.deliveryDetail)}</span>` : ''
        }${entry.sentAtMs !== null ? html` <span class="muted">envoyé le <span class="nowrap">${format.dateTimeOf(entry.sentAtMs)}</span></span>` : ''}</td>
      </tr>`;
    }
    case 'command':
      return html`<tr class="timeline-row timeline-command" data-kind="command">${when}
        <td data-label="Quoi">Commande reçue de ${actorLabel(`sms:${entry.from}`, borehole, canChange).replace(/^SMS de /, '')}</td>
        <td data-label="Détail">« ${show(entry.text)} » <span class="muted">→ ${entry.outcome}</span></td>
      </tr>`;
    case 'change':
      return html`<tr class="timeline-row timeline-change" data-kind="change" data-change="${entry.change}">${when}
        <td data-label="Quoi"><strong>${INCIDENT_EVENT_LABELS[entry.change]}</strong></td>
        <td data-label="Détail">${entry.detail ? html`${show(entry.detail)}<br>` : ''}<span class="muted">par ${actorLabel(entry.actor, borehole, canChange)} · ${INCIDENT_STATE_LABELS[entry.state]}</span></td>
      </tr>`;
    case 'snapshot':
      return html`<tr class="timeline-row timeline-snapshot" data-kind="snapshot">${when}
        <td data-label="Quoi">${entry.label === 'opened' ? "Mesures à l'ouverture" : 'Mesures à la vérification'}</td>
        <td data-label="Détail">${snapshotText(entry.readings, borehole, format)}</td>
      </tr>`;
  }
}

/** The buttons of a work order's next steps, each a form posting here and coming back. */
function actions(incident: Incident, back: string): SafeHtml {
  if (incident.state === 'verified') return html``;
  const button = (action: string, label: string, extra: SafeHtml | string = '', secondary = false) =>
    html`<form method="post" action="/incidents/${incident.id}/${action}" class="incident-action action-${action}"><input type="hidden" name="back" value="${back}">${extra}<button type="submit" class="btn${secondary ? ' secondary' : ''}">${label}</button></form>`;
  const technician = incident.workOrder;
  return html`<div class="actions incident-actions">
    ${incident.state === 'reported' || incident.state === 'reopened' ? button('ack', 'Confirmer') : ''}
    ${technician && incident.state !== 'on_site' ? button('arrive', 'Sur place') : ''}
    ${technician
      ? button('parts', 'Pièce', html`<label class="sr-only" for="part-${incident.id}">Pièce attendue</label><input id="part-${incident.id}" name="part" size="14" maxlength="200" required placeholder="Pièce attendue">`)
      : ''}
    ${technician && incident.state !== 'repair_claimed'
      ? button('repair', 'Réparé', html`<label class="sr-only" for="repair-note-${incident.id}">Note de réparation</label><input id="repair-note-${incident.id}" name="note" size="14" maxlength="500" placeholder="Note (facultatif)">`)
      : ''}
    ${button('close', 'Clore', '', true)}
  </div>
  <p class="muted small">« Réparé » n'arrête pas l'intervention : les mesures la vérifient. « Clore » : vous confirmez vous-même que le forage fonctionne.</p>`;
}

export function incidentPage(view: IncidentView): SafeHtml {
  const { incident, borehole, format, nowMs, canChange } = view;
  const lateRespond = respondOverdue(incident, nowMs);
  const lateRepair = repairOverdue(incident, nowMs);
  const answered = incident.acknowledgedAtMs ?? incident.onSiteAtMs;
  const name = borehole?.name ?? incident.boreholeId;
  const fact = (label: string, atMs: number | null) => (atMs === null ? '' : html`<dt>${label}</dt><dd>${format.dateTimeOf(atMs)}</dd>`);
  const snapshots = [
    { label: "À l'ouverture", snapshot: incident.snapshots.opened },
    { label: 'À la vérification', snapshot: incident.snapshots.verified },
  ].flatMap(({ label, snapshot }) => (snapshot ? [{ label, snapshot }] : []));

  const workOrder = incident.workOrder
    ? html`<dl class="facts work-order">
        <dt>État</dt><dd>${incidentStateBadge(incident.state)}</dd>
        <dt>Technicien</dt><dd>${incident.assignee
          ? html`${incident.assignee.name}${canChange ? html`<br><a class="tel" href="tel:${incident.assignee.phone}">${incident.assignee.phone}</a>` : ''}`
          : html`<span class="muted">personne</span>`}</dd>
        <dt>Réponse avant</dt><dd class="target-respond">${targetCell(incident.respondByMs, lateRespond, answered === null ? null : { label: 'pris en compte', atMs: answered }, format)}</dd>
        <dt>Réparation avant</dt><dd class="target-repair">${targetCell(incident.repairByMs, lateRepair, null, format)}</dd>
        ${fact('Prise en compte', incident.acknowledgedAtMs)}
        ${fact('Sur place', incident.onSiteAtMs)}
        ${incident.parts.length > 0
          ? html`<dt>Pièces</dt><dd><ul class="plain parts">${incident.parts.map(
              (part) => html`<li>${part.part} <span class="muted">(${format.dateTimeOf(part.atMs)})</span></li>`,
            )}</ul></dd>`
          : ''}
        ${fact('Réparation annoncée', incident.repairClaimedAtMs)}
        ${incident.repairNote ? html`<dt>Note</dt><dd>${incident.repairNote}</dd>` : ''}
        ${fact('Vérifiée', incident.verifiedAtMs)}
        ${incident.verifiedBy ? html`<dt>Vérifiée par</dt><dd>${actorLabel(incident.verifiedBy, borehole, canChange)}</dd>` : ''}
        ${fact('Rouverte', incident.reopenedAtMs)}
        ${incident.failedRepairs > 0 ? html`<dt>Réparations échouées</dt><dd>${incident.failedRepairs}</dd>` : ''}
      </dl>`
    : html`<p class="muted">Pas d'ordre de travail : cet avertissement ne demande pas de technicien.</p>
      <dl class="facts">${fact('Prise en compte', incident.acknowledgedAtMs)}${fact('Close', incident.closedAtMs)}</dl>`;

  return html`<p class="crumbs"><a href="/">Réseau</a> › ${borehole ? html`<a href="/boreholes/${borehole.id}">${borehole.name}</a>` : incident.boreholeId} › <a href="/work-orders">Interventions</a></p>
    <div class="page-head">
      <h1>Intervention n° ${incident.code} — ${name} ${incidentStateBadge(incident.state)}</h1>
      <p class="meta"><strong>${ruleTitle(incident.cause)}</strong> ${severityBadge(incident)} · ouverte le ${format.dateTimeOf(incident.openedAtMs)}${
        incident.state !== 'verified' ? html` (${ago(incident.openedAtMs, nowMs)})` : ''
      } · ${plural(incident.alertIds.length, 'alerte', 'alertes')}${lateRespond || lateRepair ? html` · ${html`<span class="sev sev-critical overdue">En retard</span>`}` : ''}</p>
      ${incident.manual ? html`<p class="note">Signalée par ${actorLabel(incident.manual.by, borehole, canChange)} : « ${incident.manual.text} »</p>` : ''}
    </div>

    <div class="columns">
      <div class="main-col">
        <section>
          <h2>Historique</h2>
          ${view.timeline.length === 0
            ? html`<p class="empty">Rien d'enregistré pour cette intervention.</p>`
            : html`<table class="list timeline"><thead><tr><th scope="col">Date</th><th scope="col">Quoi</th><th scope="col">Détail</th></tr></thead><tbody>${view.timeline.map((entry) =>
                timelineRow(entry, view),
              )}</tbody></table>`}
        </section>
      </div>
      <aside class="side-col">
        <section class="card">
          <h2>Ordre de travail</h2>
          ${workOrder}
          ${canChange ? actions(incident, view.here) : incident.state !== 'verified' ? html`<p class="note">Faire avancer l'intervention demande un jeton d'opérateur.</p>` : ''}
        </section>
        <section class="card">
          <h2>Mesures</h2>
          ${snapshots.length === 0
            ? html`<p class="muted">Aucun relevé des mesures pour cette intervention.</p>`
            : snapshots.map(({ label, snapshot }) => html`<h3>${label} <span class="muted small">(${format.dateTimeOf(snapshot.atMs)})</span></h3>${snapshotText(snapshot, borehole, format)}`)}
        </section>
      </aside>
    </div>`;
}
