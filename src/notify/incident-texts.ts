/**
 * The SMS texts of incidents and work orders (CONTRACT.md section 9), in the reader's language
 * (`fr`, `bm`, `en`). Pure functions of plain values, like templates.ts, whose rules they follow:
 * every text is GSM-7 and one segment (160 septets); when it would not fit, the borehole name is
 * shortened (first without "Forage de ", then cut with a `.`), never the code nor a time. Where a
 * text carries a list of commands, a shorter wording of that list is used before the name is cut
 * below `MIN_NAME_SEPTETS`, so that a technician still reads which borehole it is.
 *
 * The command words are the French ones (OK, ARRIVE, PIECE, REPARE, PANNE, ETAT) in every
 * language: they are what the help text teaches, and one word per command is easier to learn
 * than three (the parser accepts the others too).
 *
 * Words for an incident: French "panne" (what a village calls it, whatever the cause), English
 * "incident", Bambara "tiɲɛni" (breakdown).
 *
 * NATIVE SPEAKER REVIEW NEEDED: the Bambara texts in `BM` were written by a non-native speaker,
 * like those of templates.ts. Literal meanings for the reviewer are next to each of them.
 */
import type { Language } from '../config/registry.js';
import type { AlertRule, Severity } from '../rules/types.js';
import { fitSegment, gsm7Length, SEGMENT_SEPTETS, toGsm7, truncateSeptets } from './gsm7.js';
import { checkCode, nameVariants, problemText, shortProblemText } from './templates.js';

export interface IncidentTextInput {
  boreholeName: string;
  /** The incident's cause (its root alert's rule). */
  cause: AlertRule;
  severity: Severity;
  /** The pump's fault code or its French description, for a pump_fault cause (as in templates.ts). */
  fault?: string;
  /**
   * Local time of what the message is about, `HH:MM`, or `dd/MM HH:MM` when it is more than a day
   * ago: the opening (opened, escalation, reminder), the rise (critical), the verification, the
   * relapse, or the repair claim not confirmed (reopened `unconfirmed`).
   */
  localTime: string;
  code: number;
}

export type Audience = 'committee' | 'technician' | 'escalation';

type Problem = (name: string, problem: string, time: string, code: string) => string;
type Named = (name: string, code: string) => string;
type Reminder = (name: string, problem: string, time: string, code: string, due: string) => string;

interface IncidentTexts {
  opened: { committee: Problem; technician: readonly Problem[] };
  critical: { committee: Problem; technician: readonly Problem[]; escalation: Problem };
  /** `brief` takes the short problem words: for a long problem, before the name is cut short. */
  escalation: Record<'unacknowledged' | 'respond_missed' | 'repair_missed', { full: Problem; brief: Problem }>;
  reminder: Record<'respond' | 'repair', { full: Reminder; brief: Reminder }>;
  verified: { committee: (name: string, time: string, code: string) => string; offline: (name: string, time: string, code: string) => string; technician: (name: string, time: string, code: string) => string };
  relapse: { committee: Problem; technician: readonly Problem[] };
  unconfirmed: { committee: (name: string, time: string, code: string) => string; technician: Problem };
  question: Named;
  answer: {
    acknowledged: (name: string, short: string, code: string) => string;
    onSite: Named;
    /** Longest first; the last one has no part. */
    waitingParts: (name: string, code: string, part: string | null) => string;
    repairByData: (name: string, code: string, minutes: string) => string;
    repairByCommittee: Named;
    repairConfirmed: Named;
    faultOpened: Named;
    faultKnown: Named;
    /** `ids` is empty when there is none to list. */
    needBorehole: (ids: string) => string;
    closed: (code: string) => string;
    missedCall: (name: string, short: string, code: string) => string;
    technicianOnly: (command: string) => string;
    unknownIncident: (code: string) => string;
  };
}

const FR: IncidentTexts = {
  opened: {
    // CONTRACT.md section 5's example, word for word: the committee reads what it read before.
    committee: (n, p, t, c) => `${n}: ${p} ${t}. Repondre OK ${c} pour confirmer.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}. Envoyer OK ${c} (vu), ARRIVE ${c} (sur place), PIECE ${c} <piece>, REPARE ${c} (repare).`,
      (n, p, t, c) => `${n}: ${p} ${t}. Envoyer OK ${c}, ARRIVE ${c}, PIECE ${c} <piece>, REPARE ${c}.`,
      (n, p, t, c) => `${n}: ${p} ${t}. Panne ${c}: envoyer OK, ARRIVE, PIECE ou REPARE suivi de ${c}.`,
    ],
  },
  critical: {
    committee: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, la panne ${c} s'aggrave. Repondre OK ${c} pour confirmer.`,
    technician: [
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, la panne ${c} s'aggrave. Envoyer ARRIVE ${c} une fois sur place.`,
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, panne ${c} aggravee. ARRIVE ${c} sur place.`,
    ],
    escalation: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, la panne ${c} s'aggrave. Le technicien est prevenu.`,
  },
  escalation: {
    unacknowledged: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} depuis ${t}, panne ${c} non confirmee. Repondre OK ${c} pour confirmer.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} depuis ${t}, panne ${c} non confirmee. Repondre OK ${c}.`,
    },
    respond_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} depuis ${t}, delai d'intervention depasse (panne ${c}). Envoyer OK ${c} ou ARRIVE ${c}.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} depuis ${t}, delai depasse (panne ${c}). OK ${c} ou ARRIVE ${c}.`,
    },
    repair_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} depuis ${t}, delai de reparation depasse (panne ${c}). Envoyer REPARE ${c} apres reparation.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} depuis ${t}, reparation en retard (panne ${c}). REPARE ${c} apres.`,
    },
  },
  reminder: {
    respond: {
      full: (n, p, t, c, d) => `Rappel ${c} ${n}: ${p} depuis ${t}, a confirmer avant ${d}. Envoyer OK ${c} ou ARRIVE ${c}.`,
      brief: (n, s, t, c, d) => `Rappel ${c} ${n}: ${s} depuis ${t}, a confirmer avant ${d}. OK ${c} ou ARRIVE ${c}.`,
    },
    repair: {
      full: (n, p, t, c, d) => `Rappel ${c} ${n}: ${p} depuis ${t}, reparation attendue avant ${d}. Envoyer REPARE ${c} apres reparation.`,
      brief: (n, s, t, c, d) => `Rappel ${c} ${n}: ${s} depuis ${t}, reparation avant ${d}. REPARE ${c} apres.`,
    },
  },
  verified: {
    committee: (n, t, c) => `${n}: l'eau est revenue ${t}. Panne ${c} terminee, merci.`,
    // A silent device says nothing of the water: what came back is the borehole's voice.
    offline: (n, t, c) => `${n}: le forage repond de nouveau ${t}. Panne ${c} terminee, merci.`,
    technician: (n, t, c) => `${n}: reparation ${c} verifiee ${t}, panne terminee. Merci.`,
  },
  relapse: {
    committee: (n, p, t, c) => `${n}: ${p} ${t}, la panne ${c} est revenue. Le technicien est prevenu.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}, la panne ${c} est revenue apres reparation. Envoyer ARRIVE ${c} sur place, REPARE ${c} apres.`,
      (n, p, t, c) => `${n}: ${p} ${t}, panne ${c} revenue. ARRIVE ${c}, REPARE ${c}.`,
    ],
  },
  unconfirmed: {
    committee: (n, t, c) => `${n}: la reparation de la panne ${c} (${t}) n'est pas confirmee, panne rouverte. Le technicien est prevenu.`,
    technician: (n, p, t, c) => `${n}: ${p}, REPARE ${c} de ${t} non confirme par les donnees. Panne rouverte: verifier puis renvoyer REPARE ${c}.`,
  },
  question: (n, c) => `${n}: le technicien dit avoir repare la panne ${c}. Si l'eau coule de nouveau, repondre OK ${c}.`,
  answer: {
    acknowledged: (n, s, c) => `OK ${c} recu, merci. ${n}: ${s}.`,
    onSite: (n, c) => `ARRIVE ${c} recu. ${n}: arrivee sur place notee. Ensuite PIECE ${c} <piece> ou REPARE ${c}.`,
    waitingParts: (n, c, part) => `PIECE ${c} recu. ${n}: attente de piece notee${part === null ? '' : ` (${part})`}. REPARE ${c} apres reparation.`,
    repairByData: (n, c, m) => `REPARE ${c} recu, merci. ${n}: la reparation sera verifiee par les donnees (${m} min de pompage normal).`,
    repairByCommittee: (n, c) => `REPARE ${c} recu, merci. ${n}: le comite va confirmer que l'eau coule.`,
    repairConfirmed: (n, c) => `OK ${c} recu, merci. ${n}: l'eau coule, panne ${c} terminee.`,
    faultOpened: (n, c) => `PANNE recue, merci. ${n}: panne ${c} ouverte, le technicien est prevenu.`,
    faultKnown: (n, c) => `PANNE recue, merci. ${n}: la panne ${c} est deja signalee, le technicien est prevenu.`,
    needBorehole: (ids) => `Quel forage? Envoyer PANNE <forage> <message>${ids === '' ? '' : `, <forage> parmi: ${ids}`}.`,
    closed: (c) => `La panne ${c} est deja terminee. Si le probleme revient, envoyer PANNE.`,
    missedCall: (n, s, c) => `Appel recu, merci. ${n}: ${s}, panne ${c} confirmee.`,
    technicianOnly: (command) => `Seul le technicien peut envoyer ${command}. Pour confirmer une panne, envoyer OK et son numero.`,
    unknownIncident: (c) => `Pas de panne ouverte avec le numero ${c}. Envoyer ETAT pour voir les pannes.`,
  },
};

const EN: IncidentTexts = {
  opened: {
    committee: (n, p, t, c) => `${n}: ${p} ${t}. Reply OK ${c} to confirm.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}. Send OK ${c} (seen), ARRIVE ${c} (on site), PIECE ${c} <part>, REPARE ${c} (repaired).`,
      (n, p, t, c) => `${n}: ${p} ${t}. Send OK ${c}, ARRIVE ${c}, PIECE ${c} <part>, REPARE ${c}.`,
      (n, p, t, c) => `${n}: ${p} ${t}. Incident ${c}: send OK, ARRIVE, PIECE or REPARE followed by ${c}.`,
    ],
  },
  critical: {
    committee: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, incident ${c} got worse. Reply OK ${c} to confirm.`,
    technician: [
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, incident ${c} got worse. Send ARRIVE ${c} once on site.`,
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, incident ${c} worse. ARRIVE ${c} on site.`,
    ],
    escalation: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, incident ${c} got worse. The technician has been told.`,
  },
  escalation: {
    unacknowledged: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} since ${t}, incident ${c} not confirmed. Reply OK ${c} to confirm.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} since ${t}, incident ${c} not confirmed. Reply OK ${c}.`,
    },
    respond_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} since ${t}, response time missed (incident ${c}). Send OK ${c} or ARRIVE ${c}.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} since ${t}, response late (incident ${c}). OK ${c} or ARRIVE ${c}.`,
    },
    repair_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} since ${t}, repair time missed (incident ${c}). Send REPARE ${c} after the repair.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} since ${t}, repair late (incident ${c}). REPARE ${c} after.`,
    },
  },
  reminder: {
    respond: {
      full: (n, p, t, c, d) => `Reminder ${c} ${n}: ${p} since ${t}, to confirm before ${d}. Send OK ${c} or ARRIVE ${c}.`,
      brief: (n, s, t, c, d) => `Reminder ${c} ${n}: ${s} since ${t}, confirm before ${d}. OK ${c} or ARRIVE ${c}.`,
    },
    repair: {
      full: (n, p, t, c, d) => `Reminder ${c} ${n}: ${p} since ${t}, repair due before ${d}. Send REPARE ${c} after the repair.`,
      brief: (n, s, t, c, d) => `Reminder ${c} ${n}: ${s} since ${t}, repair before ${d}. REPARE ${c} after.`,
    },
  },
  verified: {
    committee: (n, t, c) => `${n}: water is back ${t}. Incident ${c} closed, thank you.`,
    offline: (n, t, c) => `${n}: the borehole is reporting again ${t}. Incident ${c} closed, thank you.`,
    technician: (n, t, c) => `${n}: repair ${c} verified ${t}, incident closed. Thank you.`,
  },
  relapse: {
    committee: (n, p, t, c) => `${n}: ${p} ${t}, incident ${c} is back. The technician has been told.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}, incident ${c} is back after the repair. Send ARRIVE ${c} on site, REPARE ${c} after.`,
      (n, p, t, c) => `${n}: ${p} ${t}, incident ${c} back. ARRIVE ${c}, REPARE ${c}.`,
    ],
  },
  unconfirmed: {
    committee: (n, t, c) => `${n}: the repair of incident ${c} (${t}) was not confirmed, incident reopened. The technician has been told.`,
    technician: (n, p, t, c) => `${n}: ${p}, REPARE ${c} of ${t} not confirmed by the data. Incident reopened: check, then send REPARE ${c} again.`,
  },
  question: (n, c) => `${n}: the technician says incident ${c} is repaired. If the water flows again, reply OK ${c}.`,
  answer: {
    acknowledged: (n, s, c) => `OK ${c} received, thank you. ${n}: ${s}.`,
    onSite: (n, c) => `ARRIVE ${c} received. ${n}: arrival on site recorded. Next PIECE ${c} <part> or REPARE ${c}.`,
    waitingParts: (n, c, part) => `PIECE ${c} received. ${n}: waiting for a part${part === null ? '' : ` (${part})`}. REPARE ${c} after the repair.`,
    repairByData: (n, c, m) => `REPARE ${c} received, thank you. ${n}: the data will verify the repair (${m} min of normal pumping).`,
    repairByCommittee: (n, c) => `REPARE ${c} received, thank you. ${n}: the committee will confirm the water flows.`,
    repairConfirmed: (n, c) => `OK ${c} received, thank you. ${n}: the water flows, incident ${c} closed.`,
    faultOpened: (n, c) => `PANNE received, thank you. ${n}: incident ${c} opened, the technician has been told.`,
    faultKnown: (n, c) => `PANNE received, thank you. ${n}: incident ${c} is already reported, the technician has been told.`,
    needBorehole: (ids) => `Which borehole? Send PANNE <borehole> <message>${ids === '' ? '' : `, <borehole> one of: ${ids}`}.`,
    closed: (c) => `Incident ${c} is already closed. If the problem comes back, send PANNE.`,
    missedCall: (n, s, c) => `Call received, thank you. ${n}: ${s}, incident ${c} confirmed.`,
    technicianOnly: (command) => `Only the technician can send ${command}. To confirm an incident, send OK and its number.`,
    unknownIncident: (c) => `No open incident with number ${c}. Send ETAT to see the incidents.`,
  },
};

// NATIVE SPEAKER REVIEW NEEDED. Literal meanings, for the reviewer ("i" is you, one person, for
// technicians; "aw" is you, several, for committees; both as in templates.ts):
// opened: "I ye nin ci: OK 17 (n y'a ye), ARRIVE 17 (n sera), PIECE 17 <minɛn>, REPARE 17
//   (a dilanna)" = send these: OK 17 (I saw it), ARRIVE 17 (I arrived), PIECE 17 <part>,
//   REPARE 17 (it was repaired); "... ci ni 17 ye" = send ... with 17.
// critical: "tiɲɛni 17 juguyara" = breakdown 17 got worse; "i sera tuma min na" = when you have
//   arrived; "technicien ye kunnafoni sɔrɔ" = the technician got the news.
// escalation: "kabini" = since; "mɔgɔ si ma jaabi" = nobody answered; "jaabi waati tɛmɛna" = the
//   time to answer has passed; "dilanni waati tɛmɛna" = the time to repair has passed; "waati
//   tɛmɛna" = the time has passed; "a dilanni kɔ" = after repairing it.
// reminder: "hakilijigin" = reminder; "a jaabi sani 14:05" = answer it before 14:05; "a dilan
//   sani" = repair it before.
// verified: "ji seginna" = the water came back; "forage kunnafoni seginna" = the borehole's news
//   came back (offline); "datugura" = was closed; "dilanni sɛmɛntiyara" = the repair was confirmed.
// reopened: "tiɲɛni 17 seginna dilanni kɔ" = breakdown 17 came back after the repair; "ma
//   sɛmɛntiya forage kunnafoniw fɛ" = was not confirmed by the borehole's data; "a lajɛ ka
//   REPARE 17 ci tugun" = check it and send REPARE 17 again; "a ma ban" = it is not over.
// question: "technicien ko a ye tiɲɛni 17 dilan. Ni ji bɛ bɔ, aw ye OK 17 ci" = the technician
//   says he repaired breakdown 17. If water comes out, send OK 17.
// answers: "sɔrɔla" = was received; "i sera" = you arrived; "o kɔ" = after that; "walima" = or;
//   "minɛn makɔnɔli sɛbɛnna" = the waiting for a part was written down; "forage kunnafoniw bɛna
//   dilanni sɛmɛntiya (pompe baara miniti 30)" = the borehole's data will confirm the repair (30
//   minutes of pump work); "komite bɛna a sɛmɛntiya ko ji bɛ bɔ" = the committee will confirm that
//   water comes out; "tiɲɛni 17 sɛbɛnna" = breakdown 17 was written down; "fɔra ka kɔrɔ" = was told
//   before; "forage jumɛn?" = which borehole?; "kuma" = words; "kaban" = already; "ni a seginna"
//   = if it comes back; "aw ka wele sɔrɔla" = your call was received; "jaabira" = was answered;
//   "dɔrɔn de bɛ se ka ... ci" = only ... can send; "tɛ yen" = is not there.
const BM: IncidentTexts = {
  opened: {
    committee: (n, p, t, c) => `${n}: ${p} ${t}. Aw ye OK ${c} ci.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}. I ye nin ci: OK ${c} (n y'a ye), ARRIVE ${c} (n sera), PIECE ${c} <minɛn>, REPARE ${c} (a dilanna).`,
      (n, p, t, c) => `${n}: ${p} ${t}. I ye OK ${c}, ARRIVE ${c}, PIECE ${c} <minɛn>, REPARE ${c} ci.`,
      (n, p, t, c) => `${n}: ${p} ${t}. Tiɲɛni ${c}: i ye OK, ARRIVE, PIECE walima REPARE ci ni ${c} ye.`,
    ],
  },
  critical: {
    committee: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, tiɲɛni ${c} juguyara. Aw ye OK ${c} ci.`,
    technician: [
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, tiɲɛni ${c} juguyara. I ye ARRIVE ${c} ci i sera tuma min na.`,
      (n, p, t, c) => `URGENT ${n}: ${p} ${t}, tiɲɛni ${c} juguyara. ARRIVE ${c} ci.`,
    ],
    escalation: (n, p, t, c) => `URGENT ${n}: ${p} ${t}, tiɲɛni ${c} juguyara. Technicien ye kunnafoni sɔrɔ.`,
  },
  escalation: {
    unacknowledged: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} kabini ${t}, tiɲɛni ${c}, mɔgɔ si ma jaabi. I ye OK ${c} ci.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} kabini ${t}, tiɲɛni ${c}, mɔgɔ si ma jaabi. OK ${c} ci.`,
    },
    respond_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} kabini ${t}, tiɲɛni ${c} jaabi waati tɛmɛna. I ye OK ${c} walima ARRIVE ${c} ci.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} kabini ${t}, tiɲɛni ${c} waati tɛmɛna. OK ${c} walima ARRIVE ${c} ci.`,
    },
    repair_missed: {
      full: (n, p, t, c) => `URGENT ${n}: ${p} kabini ${t}, tiɲɛni ${c} dilanni waati tɛmɛna. I ye REPARE ${c} ci a dilanni kɔ.`,
      brief: (n, s, t, c) => `URGENT ${n}: ${s} kabini ${t}, tiɲɛni ${c} waati tɛmɛna. REPARE ${c} ci.`,
    },
  },
  reminder: {
    respond: {
      full: (n, p, t, c, d) => `Hakilijigin ${c} ${n}: ${p} kabini ${t}, a jaabi sani ${d}. I ye OK ${c} walima ARRIVE ${c} ci.`,
      brief: (n, s, t, c, d) => `Hakilijigin ${c} ${n}: ${s} kabini ${t}, a jaabi sani ${d}. OK ${c} walima ARRIVE ${c} ci.`,
    },
    repair: {
      full: (n, p, t, c, d) => `Hakilijigin ${c} ${n}: ${p} kabini ${t}, a dilan sani ${d}. I ye REPARE ${c} ci a dilanni kɔ.`,
      brief: (n, s, t, c, d) => `Hakilijigin ${c} ${n}: ${s} kabini ${t}, a dilan sani ${d}. REPARE ${c} ci.`,
    },
  },
  verified: {
    committee: (n, t, c) => `${n}: ji seginna ${t}. Tiɲɛni ${c} datugura, aw ni ce.`,
    offline: (n, t, c) => `${n}: forage kunnafoni seginna ${t}. Tiɲɛni ${c} datugura, aw ni ce.`,
    technician: (n, t, c) => `${n}: dilanni ${c} sɛmɛntiyara ${t}, tiɲɛni datugura. I ni ce.`,
  },
  relapse: {
    committee: (n, p, t, c) => `${n}: ${p} ${t}, tiɲɛni ${c} seginna. Technicien ye kunnafoni sɔrɔ.`,
    technician: [
      (n, p, t, c) => `${n}: ${p} ${t}, tiɲɛni ${c} seginna dilanni kɔ. I ye ARRIVE ${c} ci, REPARE ${c} a kɔ.`,
      (n, p, t, c) => `${n}: ${p} ${t}, tiɲɛni ${c} seginna. ARRIVE ${c}, REPARE ${c}.`,
    ],
  },
  unconfirmed: {
    committee: (n, t, c) => `${n}: tiɲɛni ${c} dilanni (${t}) ma sɛmɛntiya, a ma ban. Technicien ye kunnafoni sɔrɔ.`,
    technician: (n, p, t, c) => `${n}: ${p}, REPARE ${c} (${t}) ma sɛmɛntiya forage kunnafoniw fɛ. A lajɛ ka REPARE ${c} ci tugun.`,
  },
  question: (n, c) => `${n}: technicien ko a ye tiɲɛni ${c} dilan. Ni ji bɛ bɔ, aw ye OK ${c} ci.`,
  answer: {
    acknowledged: (n, s, c) => `OK ${c} sɔrɔla, i ni ce. ${n}: ${s}.`,
    onSite: (n, c) => `ARRIVE ${c} sɔrɔla. ${n}: i sera. O kɔ, PIECE ${c} <minɛn> walima REPARE ${c} ci.`,
    waitingParts: (n, c, part) => `PIECE ${c} sɔrɔla. ${n}: minɛn makɔnɔli sɛbɛnna${part === null ? '' : ` (${part})`}. REPARE ${c} ci a dilanni kɔ.`,
    repairByData: (n, c, m) => `REPARE ${c} sɔrɔla, i ni ce. ${n}: forage kunnafoniw bɛna dilanni sɛmɛntiya (pompe baara miniti ${m}).`,
    repairByCommittee: (n, c) => `REPARE ${c} sɔrɔla, i ni ce. ${n}: komite bɛna a sɛmɛntiya ko ji bɛ bɔ.`,
    repairConfirmed: (n, c) => `OK ${c} sɔrɔla, aw ni ce. ${n}: ji bɛ bɔ, tiɲɛni ${c} datugura.`,
    faultOpened: (n, c) => `PANNE sɔrɔla, aw ni ce. ${n}: tiɲɛni ${c} sɛbɛnna, technicien ye kunnafoni sɔrɔ.`,
    faultKnown: (n, c) => `PANNE sɔrɔla, aw ni ce. ${n}: tiɲɛni ${c} fɔra ka kɔrɔ, technicien ye kunnafoni sɔrɔ.`,
    needBorehole: (ids) => `Forage jumɛn? Aw ye PANNE <forage> <kuma> ci${ids === '' ? '' : `, forage: ${ids}`}.`,
    closed: (c) => `Tiɲɛni ${c} datugura kaban. Ni a seginna, aw ye PANNE ci.`,
    missedCall: (n, s, c) => `Aw ka wele sɔrɔla, aw ni ce. ${n}: ${s}, tiɲɛni ${c} jaabira.`,
    technicianOnly: (command) => `Technicien dɔrɔn de bɛ se ka ${command} ci. Tiɲɛni jaabi: aw ye OK ni a nimɔrɔ ci.`,
    unknownIncident: (c) => `Tiɲɛni ${c} tɛ yen walima a datugura. Aw ye ETAT ci ka tiɲɛniw lajɛ.`,
  },
};

const TEXTS: Record<Language, IncidentTexts> = { fr: FR, bm: BM, en: EN };

function texts(language: Language): IncidentTexts {
  return TEXTS[language] ?? FR;
}

/** `HH:MM`, or `dd/MM HH:MM` for a time more than a day away. */
const LOCAL_TIME_PATTERN = /^(?:(?:0[1-9]|[12]\d|3[01])\/(?:0[1-9]|1[0-2]) )?(?:[01]\d|2[0-3]):[0-5]\d$/;

function checkLocalTime(localTime: string): string {
  if (!LOCAL_TIME_PATTERN.test(localTime)) throw new RangeError(`local time must be HH:MM or dd/MM HH:MM, got ${JSON.stringify(localTime)}`);
  return localTime;
}

function checkMinutes(minutes: number): string {
  if (!Number.isSafeInteger(minutes) || minutes < 0) throw new RangeError(`minutes must be a non-negative integer, got ${minutes}`);
  return String(minutes);
}

/**
 * Below this many septets of name, the next (shorter) wording of a message is used instead:
 * enough to tell "Forage de Marena Diombougou" from its neighbours.
 */
export const MIN_NAME_SEPTETS = 20;

/**
 * One segment: from the first wording where the name fits whole (at most without "Forage de"),
 * else the first that leaves `MIN_NAME_SEPTETS` of it (its cut mark included), else the last with
 * the name cut as short as needed. The name tells which borehole; a shorter wording only drops
 * words that the help text (renderHelp) also gives. Each wording takes the name, already GSM-7,
 * once.
 */
function fit(language: Language, boreholeName: string, wordings: readonly ((name: string) => string)[]): string {
  const variants = nameVariants(boreholeName, language);
  const renders = wordings.map((wording) => (name: string): string => toGsm7(wording(name), language));
  const last = renders[renders.length - 1];
  if (last === undefined) throw new RangeError('a message needs at least one wording');
  const septets = (text: string): number => gsm7Length(text) ?? Number.POSITIVE_INFINITY;
  for (const render of renders) {
    for (const variant of variants) {
      const text = render(variant);
      if (septets(text) <= SEGMENT_SEPTETS) return text;
    }
  }
  for (const render of renders.slice(0, -1)) {
    if (SEGMENT_SEPTETS - septets(render('')) >= MIN_NAME_SEPTETS) return fitSegment(render, variants);
  }
  return fitSegment(last, variants);
}

/** The input's problem and checked code and time, ready for a template. */
function parts(language: Language, input: IncidentTextInput): { problem: string; code: string; time: string } {
  return {
    problem: problemText(language, input.cause, input.severity, input.fault),
    code: checkCode(input.code),
    time: checkLocalTime(input.localTime),
  };
}

const bind = (templates: readonly Problem[], problem: string, time: string, code: string): ((name: string) => string)[] =>
  templates.map((template) => (name: string) => template(name, problem, time, code));

/**
 * The one message each person gets when an incident opens, its cause named. The committee (and
 * a regional contact) is asked to confirm with OK; the technician of a work order gets the
 * commands of the work order, a technician without one (a warning nobody must act on) the
 * committee's text.
 */
export function renderIncidentOpened(language: Language, input: IncidentTextInput & { audience: Audience; workOrder: boolean }): string {
  const t = texts(language);
  const { problem, code, time } = parts(language, input);
  const templates = input.audience === 'technician' && input.workOrder ? t.opened.technician : [t.opened.committee];
  return fit(language, input.boreholeName, bind(templates, problem, time, code));
}

/** The incident rose from warning to critical. `localTime` is when it rose. */
export function renderIncidentCritical(language: Language, input: IncidentTextInput & { audience: Audience }): string {
  const t = texts(language);
  const { problem, code, time } = parts(language, input);
  const templates =
    input.audience === 'technician' ? t.critical.technician : input.audience === 'escalation' ? [t.critical.escalation] : [t.critical.committee];
  return fit(language, input.boreholeName, bind(templates, problem, time, code));
}

/**
 * Nobody acknowledged in time, or a response or repair target was missed: to the technician, the
 * backup technician or the region's escalation contact. `localTime` is when the incident opened.
 */
export function renderIncidentEscalation(
  language: Language,
  input: IncidentTextInput & { reason: 'unacknowledged' | 'respond_missed' | 'repair_missed' },
): string {
  const { full, brief } = texts(language).escalation[input.reason];
  const { problem, code, time } = parts(language, input);
  const short = shortProblemText(language, input.cause);
  return fit(language, input.boreholeName, [(name) => full(name, problem, time, code), (name) => brief(name, short, time, code)]);
}

/** Before a target is missed, to the assignee. `localTime` is when the incident opened. */
export function renderIncidentReminder(language: Language, input: IncidentTextInput & { target: 'respond' | 'repair'; dueLocal: string }): string {
  const { full, brief } = texts(language).reminder[input.target];
  const { problem, code, time } = parts(language, input);
  const due = checkLocalTime(input.dueLocal);
  const short = shortProblemText(language, input.cause);
  return fit(language, input.boreholeName, [(name) => full(name, problem, time, code, due), (name) => brief(name, short, time, code, due)]);
}

/**
 * The repair was verified by the data or by a person. The committee is told the water is back
 * (for an offline incident, that the borehole reports again); the technician and a regional
 * contact that the repair is verified.
 */
export function renderIncidentVerified(language: Language, input: IncidentTextInput & { audience: Audience }): string {
  const t = texts(language);
  const { code, time } = parts(language, input);
  const template = input.audience !== 'committee' ? t.verified.technician : input.cause === 'offline' ? t.verified.offline : t.verified.committee;
  return fit(language, input.boreholeName, [(name) => template(name, time, code)]);
}

/**
 * The fault came back after a verified repair (`relapse`; `localTime` is when it came back), or
 * the claimed repair was not confirmed by the data in time (`unconfirmed`; `localTime` is when
 * REPARE was received). A regional contact reads the technician's text.
 */
export function renderIncidentReopened(language: Language, input: IncidentTextInput & { audience: Audience; why: 'relapse' | 'unconfirmed' }): string {
  const t = texts(language);
  const { problem, code, time } = parts(language, input);
  const committee = input.audience === 'committee';
  if (input.why === 'relapse') {
    return fit(language, input.boreholeName, bind(committee ? [t.relapse.committee] : t.relapse.technician, problem, time, code));
  }
  if (committee) return fit(language, input.boreholeName, [(name) => t.unconfirmed.committee(name, time, code)]);
  // The short words: the long ones were in the opening message, this one is about the claim.
  const short = shortProblemText(language, input.cause);
  return fit(language, input.boreholeName, [(name) => t.unconfirmed.technician(name, short, time, code)]);
}

/** After REPARE on a PANNE with no sensor data: the committee's OK is the verification. */
export function renderConfirmationQuestion(language: Language, input: { boreholeName: string; code: number }): string {
  const t = texts(language);
  const code = checkCode(input.code);
  return fit(language, input.boreholeName, [(name) => t.question(name, code)]);
}

export type CommandAnswer =
  | { kind: 'acknowledged'; boreholeName: string; cause: AlertRule; code: number }
  | { kind: 'on_site'; boreholeName: string; code: number }
  | { kind: 'waiting_parts'; boreholeName: string; code: number; part: string | null }
  /**
   * `verifiedBy` `committee`: a PANNE with no sensor data, which the committee's OK will verify
   * (the caller then sends renderConfirmationQuestion); default `data`.
   */
  | { kind: 'repair_claimed'; boreholeName: string; code: number; verifyMinutes: number; verifiedBy?: 'data' | 'committee' }
  | { kind: 'repair_confirmed'; boreholeName: string; code: number }
  | { kind: 'fault_opened'; boreholeName: string; code: number }
  | { kind: 'fault_known'; boreholeName: string; code: number }
  | { kind: 'need_borehole'; boreholeIds: readonly string[] }
  | { kind: 'closed'; code: number }
  | { kind: 'missed_call'; boreholeName: string; cause: AlertRule; code: number }
  | { kind: 'technician_only'; command: 'ARRIVE' | 'PIECE' | 'REPARE' }
  | { kind: 'unknown_incident'; code: number };

/** Septets of a part echoed in the answer to PIECE: what it is, not a technician's whole note. */
export const PART_SEPTETS = 40;

/** A typed text on one line in GSM-7, or null when nothing is left. */
function cleanText(text: string | null, language: Language): string | null {
  if (text === null) return null;
  const flat = toGsm7(text.replace(/\s+/gu, ' ').trim(), language).replace(/[\n\r\f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat === '' ? null : flat;
}

/** As many ids as fit, in order, then `+N` for the others; ids are never cut (they are typed back). */
function idList(language: Language, ids: readonly string[], render: (list: string) => string): string {
  const clean = [...new Set(ids.map((id) => toGsm7(id.trim(), language)).filter((id) => id !== ''))];
  const septets = (text: string): number => gsm7Length(text) ?? Number.POSITIVE_INFINITY;
  // Room is always left for the ` +N` of the ids that would follow (as renderSummary does).
  let shown = '';
  for (const [index, id] of clean.entries()) {
    const candidate = shown === '' ? id : `${shown}, ${id}`;
    const after = clean.length - index - 1;
    if (septets(render(after === 0 ? candidate : `${candidate} +${after}`)) > SEGMENT_SEPTETS) {
      const left = clean.length - index;
      return render(shown === '' ? `+${left}` : `${shown} +${left}`);
    }
    shown = candidate;
  }
  return render(shown);
}

/** The one short confirmation answering a command (or a missed call), in the sender's language. */
export function renderCommandAnswer(language: Language, answer: CommandAnswer): string {
  const a = texts(language).answer;
  const gsm = (text: string): string => toGsm7(text, language);
  switch (answer.kind) {
    case 'acknowledged': {
      const code = checkCode(answer.code);
      const short = shortProblemText(language, answer.cause);
      return fit(language, answer.boreholeName, [(name) => a.acknowledged(name, short, code)]);
    }
    case 'on_site': {
      const code = checkCode(answer.code);
      return fit(language, answer.boreholeName, [(name) => a.onSite(name, code)]);
    }
    case 'waiting_parts': {
      const code = checkCode(answer.code);
      const part = cleanText(answer.part, language);
      // The part is echoed so that a misread is caught; it gives way to the name before the name is cut.
      const wordings =
        part === null
          ? [(name: string) => a.waitingParts(name, code, null)]
          : [
              (name: string) => a.waitingParts(name, code, truncateSeptets(part, PART_SEPTETS)),
              (name: string) => a.waitingParts(name, code, truncateSeptets(part, PART_SEPTETS / 2)),
              (name: string) => a.waitingParts(name, code, null),
            ];
      return fit(language, answer.boreholeName, wordings);
    }
    case 'repair_claimed': {
      const code = checkCode(answer.code);
      if (answer.verifiedBy === 'committee') return fit(language, answer.boreholeName, [(name) => a.repairByCommittee(name, code)]);
      const minutes = checkMinutes(answer.verifyMinutes);
      return fit(language, answer.boreholeName, [(name) => a.repairByData(name, code, minutes)]);
    }
    case 'repair_confirmed': {
      const code = checkCode(answer.code);
      return fit(language, answer.boreholeName, [(name) => a.repairConfirmed(name, code)]);
    }
    case 'fault_opened': {
      const code = checkCode(answer.code);
      return fit(language, answer.boreholeName, [(name) => a.faultOpened(name, code)]);
    }
    case 'fault_known': {
      const code = checkCode(answer.code);
      return fit(language, answer.boreholeName, [(name) => a.faultKnown(name, code)]);
    }
    case 'need_borehole':
      return idList(language, answer.boreholeIds, (list) => gsm(a.needBorehole(list)));
    case 'closed':
      return gsm(a.closed(checkCode(answer.code)));
    case 'missed_call': {
      const code = checkCode(answer.code);
      const short = shortProblemText(language, answer.cause);
      return fit(language, answer.boreholeName, [(name) => a.missedCall(name, short, code)]);
    }
    case 'technician_only':
      return gsm(a.technicianOnly(answer.command));
    case 'unknown_incident':
      return gsm(a.unknownIncident(checkCode(answer.code)));
  }
}
