/** `/login`: one field for the access token given by the service's administrator. */
import { html, type SafeHtml } from './html.js';

export interface LoginView {
  next: string;
  error?: string | undefined;
  notice?: string | undefined;
}

export function loginPage(view: LoginView): SafeHtml {
  return html`<section class="login card">
    <h1>Connexion</h1>
    <p>Suivi des forages des villages : état des pompes, niveaux d'eau et alertes.</p>
    ${view.notice ? html`<p class="flash flash-ok" role="status">${view.notice}</p>` : ''}
    ${view.error ? html`<p class="flash flash-error" role="alert">${view.error}</p>` : ''}
    <form method="post" action="/login">
      <input type="hidden" name="next" value="${view.next}">
      <label for="token">Jeton d'accès</label>
      <input id="token" name="token" type="password" autocomplete="current-password" required minlength="16" maxlength="512" autofocus spellcheck="false">
      <button type="submit" class="btn wide">Se connecter</button>
    </form>
    <p class="muted small">Le jeton vous est remis par l'administrateur du service. Il reste enregistré sur cet appareil pendant 30 jours ; utilisez « Se déconnecter » sur un appareil partagé.</p>
  </section>`;
}

export function messagePage(title: string, text: string, link?: { href: string; label: string }): SafeHtml {
  return html`<section class="card narrow">
    <h1>${title}</h1>
    <p>${text}</p>
    ${link ? html`<p><a class="btn" href="${link.href}">${link.label}</a></p>` : ''}
  </section>`;
}
