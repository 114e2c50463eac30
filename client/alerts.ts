// The open alerts in scope, kept from the updates: what a board lists.
import type { Update } from "./ordering.js";
import type { Alert } from "./protocol.js";

export class OpenAlerts {
  readonly byId = new Map<string, Alert>();

  apply(update: Update): void {
    if (update.type === "snapshot") {
      this.byId.clear();
      for (const alert of update.alerts) this.byId.set(alert.id, alert);
    } else if (update.type === "unsubscribed") {
      this.byId.clear();
    } else if ("alert" in update.event) {
      // Events carry the whole alert: replace it, or drop it once resolved.
      const { alert } = update.event;
      if (alert.state === "resolved") this.byId.delete(alert.id);
      else this.byId.set(alert.id, alert);
    }
  }
}
