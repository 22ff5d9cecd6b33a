// What delivery reports as it goes; metrics implement it, tests may too.
import type { EmailType } from "../jobs/contracts.ts";
import type { DeliveryError } from "../errors.ts";
import type { GateObserver } from "../mailbox/gate.ts";

export interface DeliveryObserver extends GateObserver {
  sent(type: EmailType, seconds: number): void;
  /** `willRetry`: the job goes back to the queue; otherwise this failure is final. */
  failed(type: EmailType, err: DeliveryError, willRetry: boolean): void;
}
