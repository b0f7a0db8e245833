/**
 * A reading as the service handles it after decoding: the wire payload, the borehole it came
 * from, and its event time resolved to epoch milliseconds.
 */
import type { WirePayloadByKind } from '../contract/payloads.js';
import type { TopicKind } from '../contract/topics.js';

export type Reading = {
  [K in TopicKind]: {
    boreholeId: string;
    kind: K;
    /** Event time: the device's `ts`, or the receive time when the device has no clock. */
    tsMs: number;
    values: WirePayloadByKind[K];
  };
}[TopicKind];
