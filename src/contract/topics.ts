/**
 * MQTT topics of CONTRACT.md section 1: `{root}/{boreholeId}/{kind}`.
 * Shared by the service and the firmware simulator, so both always agree on the wire.
 */

export const READING_KINDS = ['flow', 'pump', 'level'] as const;
export type ReadingKind = (typeof READING_KINDS)[number];

export const TOPIC_KINDS = [...READING_KINDS, 'status'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export const BOREHOLE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

export const DEFAULT_TOPIC_ROOT = 'boreholes';

export interface ParsedTopic {
  boreholeId: string;
  kind: TopicKind;
}

export function topicFor(root: string, boreholeId: string, kind: TopicKind): string {
  return `${root}/${boreholeId}/${kind}`;
}

/** The single subscription that covers every topic the service reads. */
export function subscriptionFor(root: string): string {
  return `${root}/+/+`;
}

function isTopicKind(value: string): value is TopicKind {
  return (TOPIC_KINDS as readonly string[]).includes(value);
}

/** Returns null for anything that is not exactly `{root}/{valid id}/{known kind}`. */
export function parseTopic(root: string, topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${root}/`)) return null;
  const rest = topic.slice(root.length + 1).split('/');
  if (rest.length !== 2) return null;
  const [boreholeId, kind] = rest as [string, string];
  if (!BOREHOLE_ID_PATTERN.test(boreholeId) || !isTopicKind(kind)) return null;
  return { boreholeId, kind };
}
