// Handover: the open and the recently resolved alerts of one of my teams since a chosen time
// (GET /v1/alerts?since=…; the server keeps resolved alerts for 24 h).
import type { Alert } from "../client/index.js";
import { h, replaceChildren } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { colourOf, compareQueue } from "./model.js";
import { alertTitle, chip } from "./queue.js";

export class HandoverView {
  readonly element: HTMLElement;
  private readonly team: HTMLSelectElement;
  private readonly since: HTMLInputElement;
  private readonly results = h("div", { "aria-live": "polite" });

  constructor(
    teams: readonly string[],
    private readonly fetchSince: (since: number) => Promise<{ alerts: Alert[] }>,
    private readonly onOpen: (alert: Alert) => void,
  ) {
    this.team = h("select", { id: "handover-team" }, ...teams.map((team) => h("option", { value: team }, team)));
    const start = new Date(Date.now() - 8 * 3_600_000);
    start.setMinutes(0, 0, 0);
    this.since = h("input", { type: "datetime-local", id: "handover-since", value: localInputValue(start), required: true });
    this.element = h(
      "section",
      { class: "panel handover", "aria-labelledby": "handover-heading" },
      h("h2", { id: "handover-heading" }, t("handoverHeading")),
      h(
        "form",
        { onsubmit: (e) => (e.preventDefault(), void this.load()) },
        h("div", {}, h("label", { for: "handover-team" }, t("handoverTeam")), this.team),
        h("div", {}, h("label", { for: "handover-since" }, t("handoverSince")), this.since),
        h("button", { type: "submit", class: "btn", id: "handover-show" }, t("handoverShow")),
      ),
      h("p", { class: "muted" }, t("handoverRetention")),
      this.results,
    );
  }

  async load(): Promise<void> {
    const since = new Date(this.since.value).getTime();
    if (!Number.isFinite(since)) return;
    replaceChildren(this.results, h("p", { class: "muted" }, t("loading")));
    try {
      const { alerts } = await this.fetchSince(since);
      const mine = alerts.filter((a) => a.teams.includes(this.team.value));
      const open = mine.filter((a) => a.state !== "resolved").map((alert) => ({ kind: "alert" as const, alert })).sort(compareQueue).map((i) => i.alert);
      const resolved = mine.filter((a) => a.state === "resolved" && (a.resolvedAt ?? 0) >= since).sort((x, y) => (y.resolvedAt ?? 0) - (x.resolvedAt ?? 0));
      replaceChildren(
        this.results,
        h("h3", { id: "handover-open" }, t("handoverOpen", { n: open.length })),
        this.list(open, "handover-open"),
        h("h3", { id: "handover-resolved" }, t("handoverResolved", { n: resolved.length })),
        this.list(resolved, "handover-resolved"),
      );
    } catch (err) {
      replaceChildren(this.results, h("p", { class: "error" }, t("errorPrefix", { message: (err as Error).message })));
    }
  }

  private list(alerts: Alert[], labelledBy: string): HTMLElement {
    if (alerts.length === 0) return h("p", { class: "muted" }, t("handoverNone"));
    return h(
      "ul",
      { "aria-labelledby": labelledBy },
      ...alerts.map((a) => {
        const parts = [t(`state.${a.state}`), t("opened", { at: formatTime(a.openedAt) })];
        if (a.resolvedAt !== undefined) parts.push(t("resolvedAt", { at: formatTime(a.resolvedAt) }) + (a.resolution ? ` (${t(`resolution.${a.resolution}`)})` : ""));
        if (a.ack) parts.push(t("ackedBy", { by: a.ack.by, at: formatTime(a.ack.at) }) + (a.ack.note ? `: “${a.ack.note}”` : ""));
        if (a.silencedBy.length > 0) parts.push(...a.silencedBy.map((s) => `${t("silencedUntil", { until: formatTime(s.until) })}: ${s.reason}`));
        return h(
          "li",
          {},
          h("button", { type: "button", class: "row " + colourOf(a), onclick: () => this.onOpen(a) }, chip(colourOf(a)), h("span", { class: "what" }, alertTitle(a, false)), h("span", {}, ""), h("span", { class: "marks muted" }, parts.join(" · "))),
        );
      }),
    );
  }
}

/** A date as a datetime-local input's value (the browser's local time). */
function localInputValue(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
