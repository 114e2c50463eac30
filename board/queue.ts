// The work queue: one row per open alert (and per group of readings awaiting review), in the
// model's order. Rows are kept by key and rebuilt only when their alert changed, so a live event
// among 1 000 open alerts touches one row; the list is reordered by moving rows, not redrawing.
import { h } from "./dom.js";
import { formatAge, formatNumber, formatTime, metricName, t, tOr } from "./i18n.js";
import { colourOf, needsAckAgain, queueKey, silenceApplies, type Ack, type BoardModel, type Colour, type EpisodeGroup, type QueueItem, type ReviewItem } from "./model.js";
import type { Alert } from "../client/index.js";

interface Row {
  /** The alert or review object the row was built from: a new object from the model means rebuild. */
  item: Alert | ReviewItem;
  li: HTMLLIElement;
  button: HTMLButtonElement;
  age: HTMLElement;
  since: number;
}

/** An episode's group: a heading and its alerts' own rows in a list of their own. */
interface Group {
  li: HTMLLIElement;
  heading: HTMLElement;
  list: HTMLUListElement;
}

let groupIds = 0;

export class QueueView {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly count: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly filter: HTMLInputElement;
  private rows = new Map<string, Row>();
  private groups = new Map<string, Group>();
  private selected: string | undefined;
  private renderedVersion = -1;
  /** Duration of the last render in ms (shown to the end-to-end test as data-render-ms). */
  lastRenderMs = 0;

  constructor(
    private readonly model: BoardModel,
    private readonly onSelect: (item: QueueItem) => void,
    private readonly onDismiss: (key: string) => void,
  ) {
    this.count = h("p", { class: "muted", "aria-live": "polite" });
    this.filter = h("input", { type: "text", id: "queue-filter", autocomplete: "off", oninput: () => this.render(true) });
    this.list = h("ul", { class: "queue-list", id: "queue", "aria-label": t("queueHeading"), onkeydown: (e) => this.keydown(e as KeyboardEvent) });
    this.empty = h("p", { class: "muted", hidden: true }, t("queueEmpty"));
    this.element = h(
      "section",
      { class: "panel queue", "aria-labelledby": "queue-heading" },
      h("div", { class: "queue-head" }, h("h2", { id: "queue-heading" }, t("queueHeading")), this.count),
      h("label", { for: "queue-filter" }, t("filterLabel")),
      this.filter,
      this.empty,
      this.list,
    );
  }

  select(key: string | undefined): void {
    if (this.selected !== undefined) this.rows.get(this.selected)?.button.removeAttribute("aria-current");
    this.selected = key;
    if (key !== undefined) this.rows.get(key)?.button.setAttribute("aria-current", "true");
  }

  /** Brings the rows in step with the model (nothing to do when it has not changed). */
  render(force = false): void {
    if (!force && this.renderedVersion === this.model.version) return;
    const started = performance.now();
    this.renderedVersion = this.model.version;
    const words = this.filter.value.trim().toLowerCase();
    const items = this.model.queue().filter((i) => words === "" || searchText(i).includes(words));
    const keep = new Set<string>();
    const keepGroups = new Set<string>();
    const top: Element[] = [];
    for (const entry of this.model.entries(items)) {
      if (entry.kind !== "episode") {
        top.push(this.rowFor(entry, keep).li);
        continue;
      }
      keepGroups.add(entry.key);
      const group = this.groupFor(entry);
      placeInOrder(group.list, entry.items.map((i) => this.rowFor(i, keep).li));
      top.push(group.li);
    }
    placeInOrder(this.list, top);
    for (const [key, row] of this.rows) {
      if (keep.has(key)) continue;
      row.li.remove();
      this.rows.delete(key);
    }
    for (const [key, group] of this.groups) {
      if (keepGroups.has(key)) continue;
      group.li.remove();
      this.groups.delete(key);
    }
    this.count.textContent = t("queueCount", { n: this.model.alerts.size, patients: this.model.patientCount() });
    this.empty.hidden = items.length > 0;
    this.lastRenderMs = performance.now() - started;
    this.list.dataset.renderMs = this.lastRenderMs.toFixed(1);
    this.list.dataset.rows = String(items.length);
  }

  /** The item's row: kept while its alert (or review) object is the same, rebuilt when it changed. */
  private rowFor(item: QueueItem, keep: Set<string>): Row {
    const key = queueKey(item);
    keep.add(key);
    const row = this.rows.get(key);
    const source = item.kind === "alert" ? item.alert : item.review;
    if (row !== undefined && row.item === source) return row;
    const fresh = this.buildRow(item, key);
    row?.li.replaceWith(fresh.li);
    this.rows.set(key, fresh);
    return fresh;
  }

  private groupFor(entry: EpisodeGroup): Group {
    let group = this.groups.get(entry.key);
    if (group === undefined) {
      const id = `episode-${++groupIds}`;
      const heading = h("p", { class: "episode-head", id });
      const list = h("ul", { class: "episode-list", "aria-labelledby": id });
      group = { li: h("li", { class: "episode", "data-episode": entry.episode, "data-patient": entry.patient }, heading, list), heading, list };
      this.groups.set(entry.key, group);
    }
    const from = Math.min(...entry.items.map((i) => i.alert.openedAt));
    group.heading.textContent = t("episodeHeading", { patient: entry.patient, n: entry.items.length, at: formatTime(from) });
    return group;
  }

  /** Ages move on with the clock: only their text is updated. */
  tick(now = Date.now()): void {
    for (const row of this.rows.values()) row.age.textContent = formatAge(now - row.since);
  }

  private buildRow(item: QueueItem, key: string): Row {
    const now = Date.now();
    if (item.kind === "review") {
      const r = item.review;
      const age = h("span", { class: "age muted" }, formatAge(now - r.since));
      const button = h(
        "button",
        { type: "button", class: "row grey", "data-key": key, "data-patient": r.patient, onclick: () => this.choose(key, item) },
        chip("grey"),
        h("span", { class: "what" }, `${r.patient} · ${metricName(r.metric)}`),
        age,
        h("span", { class: "marks" }, `${t(`review.${r.reason}`)} · ${t("reviewCount", { n: r.count })}`),
      );
      const dismiss = h("button", { type: "button", class: "btn secondary", onclick: () => this.onDismiss(r.key) }, t("dismiss"));
      return { item: r, li: h("li", {}, button, dismiss), button, age, since: r.since };
    }
    const a = item.alert;
    const colour = colourOf(a);
    const age = h("span", { class: "age muted", title: formatTime(a.openedAt) }, formatAge(now - a.openedAt));
    const marks: string[] = [t(`state.${a.state}`), t(`priority.${a.priority}`)];
    if (a.late) marks.unshift(t("lateNote"));
    if (a.ack) marks.push(t("ackedBy", { by: a.ack.by, at: formatTime(a.ack.at) }));
    const again = needsAckAgain(a);
    if (again) marks.unshift(reAlertedText(this.model.lapsedAcks.get(a.id)));
    if (!silenceApplies(a)) marks.push(t("unsilenceableShort"));
    if (a.programmes?.length) marks.push(programmeNames(a.programmes));
    if (a.silencedBy.length > 0) marks.push(t("silencedUntil", { until: formatTime(Math.max(...a.silencedBy.map((s) => s.until))) }));
    if (a.inhibitedBy) marks.push(t("inhibited", { reason: t(`inhibit.${a.inhibitedBy.reason}`) }));
    if (a.routedTo) marks.push(a.routedTo.team);
    const button = h(
      "button",
      {
        type: "button",
        class: `row ${colour}${again ? " again" : ""}`,
        "data-key": key,
        "data-alert": a.id,
        "data-patient": a.patient,
        "data-state": a.state,
        "data-late": a.late ? "true" : null,
        "data-ack-again": again ? "true" : null,
        "data-unsilenceable": silenceApplies(a) ? null : "true",
        "aria-current": this.selected === key ? "true" : null, onclick: () => this.choose(key, item) },
      chip(colour),
      h("span", { class: "what" }, alertTitle(a, true)),
      age,
      h("span", { class: "marks muted" }, marks.join(" · ")),
    );
    return { item: a, li: h("li", {}, button), button, age, since: a.openedAt };
  }

  private choose(key: string, item: QueueItem): void {
    this.select(key);
    this.onSelect(item);
  }

  /** Arrow keys move between rows; Home and End jump; Enter and Space open (the button's own). */
  private keydown(e: KeyboardEvent): void {
    const buttons = [...this.list.querySelectorAll<HTMLButtonElement>("button.row")];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const to = e.key === "ArrowDown" ? at + 1 : e.key === "ArrowUp" ? at - 1 : e.key === "Home" ? 0 : e.key === "End" ? buttons.length - 1 : undefined;
    if (to === undefined || buttons.length === 0) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, to))].focus();
  }
}

/**
 * Patient, metric, (the latest triggering reading) and its interpretation. A missing-data alert
 * has neither: its numbers are minutes or deadlines overdue, not values of the metric.
 */
export function alertTitle(a: Alert, withValue: boolean): string {
  const what = `${a.patient} · ${metricName(a.metric)}`;
  if (a.ruleKind === "missing") return what;
  const last = withValue ? a.why.readings.at(-1) : undefined;
  const value = last?.readingValue;
  // A trend alert fires on its slope or forecast, not on the reading: a red LL beside a normal
  // glucose must say what was low.
  const trend = a.ruleKind === "rate" && last?.value !== null && last?.value !== undefined ? ` · ${t("trendValue", { value: formatNumber(last.value) })}` : "";
  return `${what}${value === undefined ? "" : ` ${formatNumber(value)}`}${trend} (${a.interpretation})`;
}

/** "Acknowledge again", with the acknowledgement that lapsed when the event said which. */
export function reAlertedText(lapsed: Ack | undefined): string {
  return t("reAlerted") + (lapsed ? ` (${t("lapsedAck", { by: lapsed.by, at: formatTime(lapsed.at) })})` : "");
}

/** The programmes whose rule fired, by their names. */
export function programmeNames(programmes: readonly string[]): string {
  return programmes.map((p) => tOr(`programme.${p}`, p)).join(", ");
}

/** Puts `elements` as the first children of `parent` in this order, moving only those out of place. */
function placeInOrder(parent: Element, elements: readonly Element[]): void {
  let before: ChildNode | null = parent.firstChild;
  for (const el of elements) {
    if (el !== before) parent.insertBefore(el, before);
    before = el.nextSibling;
  }
}

/** The colour as a word too: colour is never the only signal. */
export function chip(colour: Colour): HTMLElement {
  return h("span", { class: `chip ${colour}` }, t(`colour.${colour}`));
}

function searchText(item: QueueItem): string {
  const { patient, metric } = item.kind === "alert" ? item.alert : item.review;
  return `${patient} ${metric} ${metricName(metric)}`.toLowerCase();
}
