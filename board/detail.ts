// One alert's why and what to do about it: rule, limits in force, the readings that triggered
// it, a sparkline of the metric's recent history, the responsible team and escalation step;
// acknowledge with a note, snooze with an expiry and a reason; the alert's history.
// The forms survive live updates of the alert (a note being typed is never wiped).
import type { Alert, LifecycleEvent } from "../client/index.js";
import { canonicalUnitOf } from "../engine/metrics.js";
import { h, replaceChildren } from "./dom.js";
import { formatAge, formatNumber, formatTime, metricName, t, tOr, unitLabel, type TextKey } from "./i18n.js";
import { colourOf, needsAckAgain, silenceApplies, type Ack } from "./model.js";
import { alertTitle, chip, programmeNames, reAlertedText } from "./queue.js";
import { sparkline, type SparkLimits, type SparkPoint } from "./sparkline.js";

/** What the detail view asks of the rest of the board. */
export interface DetailActions {
  ack(alert: Alert, note: string | undefined): Promise<unknown>;
  snooze(alert: Alert, until: number, reason: string): Promise<unknown>;
  endSnooze(silenceId: string): Promise<unknown>;
  history(alertId: string): Promise<{ events: LifecycleEvent[] }>;
  readings(patient: string, metric: string, from: number): Promise<{ readings: (SparkPoint & { unit?: string })[] }>;
  /** The acknowledgement a re-alert took away (known from the live event only). */
  lapsedAck(alertId: string): Ack | undefined;
}

export const SNOOZE_CHOICES = ["30m", "1h", "2h", "4h", "8h", "24h"] as const;
const SNOOZE_MS: Record<(typeof SNOOZE_CHOICES)[number], number> = { "30m": 30 * 60_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "24h": 86_400_000 };
const CHART_HOURS = 72;

export class DetailView {
  readonly element: HTMLElement;
  private alert: Alert | undefined;
  private readonly summary = h("div");
  private readonly chart = h("div");
  private readonly historyList = h("div");
  private readonly forms: HTMLElement;
  private readonly ackNote: HTMLTextAreaElement;
  private readonly ackStatus = h("p", { role: "status", class: "muted" });
  private readonly snoozeFor: HTMLSelectElement;
  private readonly snoozeReason: HTMLInputElement;
  private readonly snoozeStatus = h("p", { role: "status", class: "muted" });
  private readonly snoozeList = h("div");
  private readonly snoozeFields: HTMLElement;
  /** Why no snooze is offered (the alert is unsilenceable at its level), or what a snooze will not do. */
  private readonly snoozeNote = h("p", { id: "snooze-note", class: "muted", hidden: true });
  private loads = 0;

  constructor(
    private readonly actions: DetailActions,
    private readonly onClose: () => void,
  ) {
    this.ackNote = h("textarea", { id: "ack-note", maxlength: 2000 });
    this.snoozeFor = h("select", { id: "snooze-for" }, ...SNOOZE_CHOICES.map((c) => h("option", { value: c }, t(`duration.${c}`))));
    this.snoozeReason = h("input", { type: "text", id: "snooze-reason", required: true, maxlength: 2000, autocomplete: "off" });
    this.forms = h(
      "section",
      { class: "forms" },
      h(
        "form",
        { "aria-labelledby": "ack-heading", onsubmit: (e) => void this.submitAck(e) },
        h("h3", { id: "ack-heading" }, t("acknowledge")),
        h("label", { for: "ack-note" }, t("noteLabel")),
        this.ackNote,
        h("button", { type: "submit", class: "btn", id: "ack-submit" }, t("ackButton")),
        this.ackStatus,
      ),
      h(
        "form",
        { "aria-labelledby": "snooze-heading", onsubmit: (e) => void this.submitSnooze(e) },
        h("h3", { id: "snooze-heading" }, t("snooze")),
        this.snoozeNote,
        (this.snoozeFields = h(
          "div",
          {},
          h("label", { for: "snooze-for" }, t("snoozeFor")),
          this.snoozeFor,
          h("label", { for: "snooze-reason" }, t("reasonLabel")),
          this.snoozeReason,
          h("button", { type: "submit", class: "btn", id: "snooze-submit" }, t("snoozeButton")),
        )),
        this.snoozeStatus,
        this.snoozeList,
      ),
    );
    this.element = h("section", { class: "panel detail", id: "detail", "aria-live": "off", tabindex: -1, onkeydown: (e) => (e as KeyboardEvent).key === "Escape" && this.onClose() });
    this.showEmpty();
  }

  get alertId(): string | undefined {
    return this.alert?.id;
  }

  showEmpty(): void {
    this.alert = undefined;
    replaceChildren(this.element, h("p", { class: "muted" }, t("detailEmpty")));
  }

  /** Shows an alert (a new one: resets the forms and loads chart and history). */
  show(alert: Alert): void {
    const fresh = alert.id !== this.alert?.id;
    this.alert = alert;
    if (fresh) {
      this.ackNote.value = "";
      this.snoozeReason.value = "";
      this.ackStatus.textContent = "";
      this.snoozeStatus.textContent = "";
      replaceChildren(
        this.element,
        this.summary,
        h("section", { "aria-labelledby": "chart-heading" }, h("h3", { id: "chart-heading" }, t("history72h", { metric: metricName(alert.metric) })), this.chart),
        this.forms,
        h("section", { "aria-labelledby": "history-heading" }, h("h3", { id: "history-heading" }, t("history")), this.historyList),
      );
    }
    this.renderSummary(alert);
    this.renderSnoozes(alert);
    void this.load(alert);
  }

  /** The alert changed (a live event): redraw what depends on it, keep the forms. */
  update(alert: Alert): void {
    if (alert.id === this.alert?.id) this.show(alert);
  }

  /** The alert left the open list (resolved): show its final state and history. */
  resolved(alert: Alert): void {
    if (alert.id === this.alert?.id) this.show(alert);
  }

  private renderSummary(a: Alert): void {
    const colour = colourOf(a);
    const unit = unitLabel(canonicalUnitOf(a.metric) ?? "");
    const rows: [string, string][] = [
      [t("rule"), `${a.rule} (${t(`kind.${a.ruleKind}`)})`],
      [t("limits"), limitsText(a) + (a.why.thresholdVersion === null ? "" : ` (${t("thresholdVersion", { v: String(a.why.thresholdVersion) })})`)],
      [t("responsible"), a.routedTo ? t("routedTo", { team: a.routedTo.team, role: t(`role.${a.routedTo.role}`) }) : t("noRoute")],
      [t("escalation"), escalationText(a)],
    ];
    if (a.programmes?.length) rows.splice(1, 0, [t("programmes"), programmeNames(a.programmes)]);
    const status: string[] = [t(`state.${a.state}`), t(`priority.${a.priority}`), t("opened", { at: formatTime(a.openedAt) })];
    if (a.resolvedAt !== undefined) status.push(t("resolvedAt", { at: formatTime(a.resolvedAt) }));
    if (a.ack) status.push(t("ackedBy", { by: a.ack.by, at: formatTime(a.ack.at) }) + (a.ack.note ? `: “${a.ack.note}”` : ""));
    if (a.inhibitedBy) status.push(t("inhibited", { reason: t(`inhibit.${a.inhibitedBy.reason}`) }));
    replaceChildren(
      this.summary,
      h(
        "div",
        { class: "detail-head" },
        h("h2", { id: "detail-heading" }, chip(colour), alertTitle(a, false)),
        h("button", { type: "button", class: "btn secondary", onclick: () => this.onClose() }, t("close")),
      ),
      a.late ? h("p", { id: "detail-late" }, h("span", { class: "badge past" }, t("colour.past")), " ", t("lateNote")) : null,
      needsAckAgain(a) ? h("p", { id: "detail-again" }, h("span", { class: "badge again" }, reAlertedText(this.actions.lapsedAck(a.id)))) : null,
      h("p", { id: "detail-status" }, status.join(" · ")),
      h("section", { "aria-labelledby": "why-heading" }, h("h3", { id: "why-heading" }, t("why")), h("dl", {}, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      triggerTable(a, unit),
    );
  }

  private renderSnoozes(a: Alert): void {
    // A snooze that would hide nothing is not offered: the rule keeps the alert in view from its level up.
    const applies = silenceApplies(a);
    this.snoozeFields.hidden = !applies;
    this.snoozeNote.hidden = a.unsilenceable === undefined;
    this.snoozeNote.textContent =
      a.unsilenceable === undefined ? "" : applies ? t("unsilenceableLater", { level: t(`level.${a.unsilenceable}`) }) : t("unsilenceable", { level: t(`level.${a.unsilenceable}`) });
    replaceChildren(
      this.snoozeList,
      ...a.silencedBy.map((s) =>
        h(
          "p",
          {},
          `${t("silencedUntil", { until: formatTime(s.until) })} (${s.author}: ${s.reason}) `,
          h("button", { type: "button", class: "btn secondary", onclick: () => void this.run(this.snoozeStatus, () => this.actions.endSnooze(s.id), "") }, t("endSnooze")),
        ),
      ),
    );
  }

  /** Chart and history, newest answer wins (a slower earlier load never overwrites a later one). */
  private async load(a: Alert): Promise<void> {
    const load = ++this.loads;
    const from = Date.now() - CHART_HOURS * 3_600_000;
    const [readings, history] = await Promise.allSettled([this.actions.readings(a.patient, a.metric, from), this.actions.history(a.id)]);
    if (load !== this.loads) return;
    if (readings.status === "fulfilled") {
      const points = readings.value.readings.map((r) => ({ time: r.time, value: r.value, triage: r.triage })).sort((x, y) => x.time - y.time);
      // Only a band's limits are values of the metric; other kinds' limits are changes, slopes or scores.
      const limits = a.ruleKind === "band" ? (a.why.limits as SparkLimits | null) : null;
      replaceChildren(this.chart, sparkline(points, limits, unitLabel(readings.value.readings[0]?.unit ?? ""), from, Date.now()));
    } else replaceChildren(this.chart, h("p", { class: "error" }, t("errorPrefix", { message: String(readings.reason?.message ?? readings.reason) })));
    if (history.status === "fulfilled") replaceChildren(this.historyList, historyList(history.value.events));
    else replaceChildren(this.historyList, h("p", { class: "error" }, t("errorPrefix", { message: String(history.reason?.message ?? history.reason) })));
  }

  private async submitAck(e: Event): Promise<void> {
    e.preventDefault();
    const alert = this.alert;
    if (alert === undefined) return;
    const note = this.ackNote.value.trim();
    const ok = await this.run(this.ackStatus, () => this.actions.ack(alert, note === "" ? undefined : note), t("acked"));
    if (ok) this.ackNote.value = "";
  }

  private async submitSnooze(e: Event): Promise<void> {
    e.preventDefault();
    const alert = this.alert;
    const reason = this.snoozeReason.value.trim();
    if (alert === undefined || reason === "" || !silenceApplies(alert)) return;
    const until = Date.now() + SNOOZE_MS[this.snoozeFor.value as (typeof SNOOZE_CHOICES)[number]];
    const ok = await this.run(this.snoozeStatus, () => this.actions.snooze(alert, until, reason), t("snoozed", { until: formatTime(until) }));
    if (ok) this.snoozeReason.value = "";
  }

  /** Runs an action with its form's buttons disabled; says how it went in `status`. */
  private async run(status: HTMLElement, action: () => Promise<unknown>, done: string): Promise<boolean> {
    const buttons = [...this.forms.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    status.className = "muted";
    status.textContent = t("loading");
    try {
      await action();
      status.textContent = done;
      return true;
    } catch (err) {
      status.className = "error";
      status.textContent = t("errorPrefix", { message: (err as Error).message ?? String(err) });
      return false;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }
}

function limitsText(a: Alert): string {
  const limits = a.why.limits as Record<string, unknown> | null;
  if (limits === null || Object.keys(limits).length === 0) return t("noLimits");
  const parts: string[] = [];
  for (const name of ["redLow", "yellowLow", "yellowHigh", "redHigh"] as const) {
    const v = limits[name];
    if (typeof v === "number") parts.push(t(`limit.${name}`, { v: formatNumber(v) }));
  }
  const stale = limits.stale as { yellow?: string; red?: string } | undefined;
  if (stale) parts.push(t("limit.stale", { yellow: stale.yellow ?? "–", red: stale.red ?? "–" }));
  const daily = limits.daily as { deadline?: string } | undefined;
  if (daily?.deadline) parts.push(t("limit.daily", { deadline: daily.deadline }));
  return parts.join(" · ") || t("noLimits");
}

function escalationText(a: Alert): string {
  const e = a.escalation;
  const parts = [t("escalationStep", { step: e.step, notified: e.notified.join(", ") || "–" })];
  if (e.nextAt !== undefined) parts.push(t("escalationNext", { at: formatTime(e.nextAt) }));
  if (e.done) parts.push(t("escalationDone"));
  return parts.join(" · ");
}

function triggerTable(a: Alert, unit: string): HTMLElement {
  const missing = a.why.missingParameters?.length ? h("p", {}, t("missingParameters", { list: a.why.missingParameters.join(", ") })) : null;
  return h(
    "section",
    { "aria-labelledby": "triggers-heading" },
    h("h3", { id: "triggers-heading" }, t("triggers")),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("triggerTime")), h("th", { scope: "col" }, t("triggerReading")), h("th", { scope: "col" }, t("triggerValue")), h("th", { scope: "col" }, t("triggerTransition")))),
      h(
        "tbody",
        {},
        ...a.why.readings.map((r) =>
          h(
            "tr",
            {},
            h("td", {}, `${formatTime(r.time)} (${t("age", { age: formatAge(Date.now() - r.time) })})`),
            h("td", {}, r.readingValue === undefined ? "–" : `${formatNumber(r.readingValue)} ${unit}`),
            // The derived value that decided is not the reading (a forecast, a change, a score): say which it is.
            h("td", {}, r.value === null ? "–" : `${formatNumber(r.value)} (${tOr(`valueKind.${a.ruleKind}`, a.ruleKind)})`),
            h("td", {}, tOr(`transition.${r.transition}`, r.transition) + (r.withdrawn ? ` (${t("withdrawn")})` : "")),
          ),
        ),
      ),
    ),
    missing,
  );
}

function historyList(events: readonly LifecycleEvent[]): HTMLElement {
  if (events.length === 0) return h("p", { class: "muted" }, t("historyEmpty"));
  return h("ol", { class: "history" }, ...events.map((ev) => h("li", {}, h("time", {}, formatTime(ev.at)), " ", describeHistoryEvent(ev))));
}

/** One history line: what happened, who did it, and their words. */
export function describeEvent(ev: LifecycleEvent): string {
  if (ev.type === "review" || ev.type === "silence") return ev.type;
  const a = ev.alert;
  switch (ev.type) {
    case "acknowledged":
      return t("event.acknowledged", { by: a.ack?.by ?? "?" }) + (a.ack?.note ? `: “${a.ack.note}”` : "");
    case "resolved":
      return t("event.resolved", { resolution: a.resolution ? t(`resolution.${a.resolution}`) : "" });
    case "silenced":
      return ev.silence ? t("event.silenced", { author: ev.silence.author, until: formatTime(ev.silence.until), reason: ev.silence.reason }) : t("event.unsilenced");
    case "escalated":
      return ev.escalation?.team ? t("event.escalated", { team: ev.escalation.team }) : t("event.escalatedFinal");
    case "updated": {
      const lapsed = ev.lapsedAck ? ` (${t("lapsedAck", { by: ev.lapsedAck.by, at: formatTime(ev.lapsedAck.at) })})` : "";
      return `${t("event.updated")}: ${ev.change ? t(`change.${ev.change}`) : ""}${lapsed} (${t(`level.${a.level}`)})`;
    }
    default:
      return t(`event.${ev.type}` as TextKey);
  }
}

/** One history line, marked when it describes the past (late readings). */
export function describeHistoryEvent(ev: LifecycleEvent): string {
  return describeEvent(ev) + ("late" in ev && ev.late ? ` · ${t("colour.past")}` : "");
}
