/** Words for what the rules found, in French: the language of the API's readers and pages. */
import type { AlertRule } from './types.js';

const FAULTS: Record<string, string> = {
  dry_run: 'marche à sec',
  overload: 'surcharge',
  overheat: 'surchauffe',
  undervoltage: 'sous-tension',
  overvoltage: 'surtension',
  phase_loss: 'perte de phase',
  sensor_fault: 'défaut capteur',
};

export function describeFault(code: string): string {
  return FAULTS[code] ?? `défaut inconnu « ${code.slice(0, 40)} »`;
}

export const RULE_TITLES = {
  pump_fault: 'Panne pompe',
  no_flow: 'Pompe sans débit',
  low_water: "Niveau d'eau bas",
  offline: 'Forage muet',
  short_cycling: 'Démarrages trop fréquents',
  low_output: 'Production faible',
  maintenance_due: 'Entretien à prévoir',
  current_rising: 'Courant pompe en hausse',
  reported_by_person: 'Panne signalée',
} as const satisfies Record<AlertRule, string>;
