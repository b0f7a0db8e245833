/**
 * `/sms`: the SMS the service sent or tried to send, failures first, with each message's
 * delivery state and, for operators, a button that sends a failed one again. Reached from the
 * navigation and from each alert ("SMS de l'alerte").
 */
import { smsStateOf, type OutboxMessage, type SmsState } from '../../storage/sqlite-store.js';
import { maskPhones } from '../schemas.js';
import { plural, SMS_KIND_LABELS, type Formatter } from './format.js';
import { html, type SafeHtml } from './html.js';

export const SMS_FILTERS = ['all', 'failed', 'pending', 'sent', 'delivered'] as const;
export type SmsFilter = (typeof SMS_FILTERS)[number];

const FILTER_LABELS: Record<SmsFilter, string> = {
  all: 'Tous (échecs en premier)',
  failed: 'En échec',
  pending: 'En attente',
  sent: 'Envoyés',
  delivered: 'Remis',
};

export const SMS_STATE_LABELS: Record<SmsState, string> = {
  pending: 'en attente',
  sent: 'envoyé',
  delivered: 'remis',
  failed: 'échec',
  cancelled: 'annulé',
  folded: 'regroupé',
};


export interface SmsView {
  messages: readonly OutboxMessage[];
  total: number;
  filter: SmsFilter;
  alertCode: number | undefined;
  alertId: string | undefined;
  page: number;
  pageSize: number;
  canRetry: boolean;
  format: Formatter;
  /** This page's own URL, to come back to after a retry. */
  here: string;
}

export const smsStateBadge = (message: Pick<OutboxMessage, 'status' | 'delivery'>): SafeHtml => {
  const state = smsStateOf(message);
  return html`<span class="sms-state sms-${state}">${SMS_STATE_LABELS[state]}</span>`;
};

export function smsPage(view: SmsView): SafeHtml {
  const alertQuery = view.alertId ? `&alert=${encodeURIComponent(view.alertId)}` : '';
  const tabs = SMS_FILTERS.map(
    (filter) => html`<a href="/sms?state=${filter}${alertQuery}" ${filter === view.filter ? html`aria-current="page" class="selected"` : ''}>${FILTER_LABELS[filter]}</a>`,
  );
  const show = (text: string) => (view.canRetry ? text : maskPhones(text));
  const rows = view.messages.map((message) => {
    const state = smsStateOf(message);
    const detail = state === 'failed' ? (message.deliveryDetail ?? message.lastError) : message.deliveryDetail;
    return html`<tr class="sms-row sms-row-${state}" data-id="${message.id}">
      <td data-label="Créé le"><span class="nowrap">${view.format.dateTimeOf(message.createdAtMs)}</span></td>
      <td data-label="Destinataire" class="nowrap">${show(message.recipient)}</td>
      <td data-label="Type">${SMS_KIND_LABELS[message.kind] ?? message.kind}</td>
      <td data-label="Message">${message.text}</td>
      <td data-label="État">${smsStateBadge(message)}${detail ? html`<br><span class="muted">${show(detail)}</span>` : ''}${
        message.sentAtMs !== null ? html`<br><span class="muted">envoyé le <span class="nowrap">${view.format.dateTimeOf(message.sentAtMs)}</span></span>` : ''
      }${message.deliveredAtMs !== null ? html`<br><span class="muted">accusé le <span class="nowrap">${view.format.dateTimeOf(message.deliveredAtMs)}</span></span>` : ''}</td>
      <td data-label="Essais">${message.attempts}</td>
      ${view.canRetry
        ? html`<td data-label="Action">${state === 'failed'
            ? html`<form method="post" action="/sms/${message.id}/retry"><input type="hidden" name="back" value="${view.here}"><button type="submit" class="btn">Renvoyer</button></form>`
            : ''}</td>`
        : ''}
    </tr>`;
  });
  const pages = Math.max(1, Math.ceil(view.total / view.pageSize));
  const pageLink = (page: number, label: string) => html`<a href="/sms?state=${view.filter}${alertQuery}&page=${page}">${label}</a>`;
  return html`<h1>SMS${view.alertCode !== undefined ? html` de l'alerte n° ${view.alertCode}` : ''}</h1>
    <nav class="tabs" aria-label="Filtrer les SMS">${tabs}</nav>
    <p class="muted">${plural(view.total, 'message', 'messages')}. « Remis » : l'opérateur téléphonique a confirmé la remise au téléphone ; « envoyé » : la passerelle l'a pris, sans accusé de réception (pas encore, ou pas de cet opérateur).</p>
    ${view.messages.length === 0
      ? html`<p class="empty">Aucun SMS.</p>`
      : html`<table class="sms">
          <thead><tr><th>Créé le</th><th>Destinataire</th><th>Type</th><th>Message</th><th>État</th><th>Essais</th>${view.canRetry ? html`<th>Action</th>` : ''}</tr></thead>
          <tbody>${rows}</tbody>
        </table>`}
    ${pages > 1
      ? html`<nav class="pager">${view.page > 1 ? pageLink(view.page - 1, '← Précédents') : ''} Page ${view.page} / ${pages} ${view.page < pages ? pageLink(view.page + 1, 'Suivants →') : ''}</nav>`
      : ''}`;
}
