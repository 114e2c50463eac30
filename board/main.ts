// The board: sign-in, then the live work queue, an alert's detail and the handover view, on
// one varsel/client connection. A banner shows while the connection is being restored; the
// client resumes from its cursor, so no alert is lost or shown twice after it.
import { VarselClient, type Alert, type Status, type Update } from "../client/index.js";
import { DetailView } from "./detail.js";
import { h, replaceChildren } from "./dom.js";
import { HandoverView } from "./handover.js";
import { devToken } from "./http.js";
import { currentLang, initialLang, LANGS, setLang, t, type Lang } from "./i18n.js";
import { BoardModel, type QueueItem } from "./model.js";
import { QueueView } from "./queue.js";
import { clearReviews, loadReviews, saveReviews } from "./review-store.js";
import { savedSession, saveSession, signInPage, type Session } from "./signin.js";

const LANG_KEY = "varsel.lang";
const AGE_TICK_MS = 15_000;

type Tab = "queue" | "handover";

class BoardApp {
  private readonly root: HTMLElement;
  private session: Session | undefined;
  private client: VarselClient | undefined;
  private model = new BoardModel();
  private status: Status | undefined;
  /** Who signed in, from the server's first `authenticated`. */
  private user: { sub: string; teams: string[] } | undefined;
  private tab: Tab = "queue";
  private selected: string | undefined;
  /** The alert shown in the detail view (it may have left the open list). */
  private shown: Alert | undefined;
  private queue: QueueView | undefined;
  private detail: DetailView | undefined;
  private handover: HandoverView | undefined;
  private banner = h("div", { class: "banner", role: "status", id: "banner", hidden: true });
  private renderPending = false;
  /** The model's reviewsVersion last saved. */
  private savedReviews = -1;
  private ageTimer: ReturnType<typeof setInterval> | undefined;

  constructor(root: HTMLElement) {
    this.root = root;
  }

  start(): void {
    const session = savedSession();
    if (session) this.signIn(session);
    else this.showSignIn();
  }

  // -- sign-in ---------------------------------------------------------------------------

  private showSignIn(message?: string): void {
    this.stop();
    replaceChildren(this.root, h("header", { class: "top" }, h("span", {}, ""), this.languageSwitch(() => this.showSignIn(message))), signInPage((s) => this.signIn(s), message));
  }

  private signIn(session: Session): void {
    this.stop();
    this.session = session;
    this.user = undefined;
    this.selected = undefined;
    this.shown = undefined;
    this.model = new BoardModel();
    const token = session.kind === "token" ? session.token : async () => (await devToken(session.teams)).token;
    const client = new VarselClient({ url: location.origin, token });
    this.client = client;
    client.onStatus((status) => this.statusChanged(client, status));
    client.onUpdate((update) => this.updated(update));
    client.subscribe().catch((err: Error & { code?: string }) => {
      if (this.client === client) this.showSignIn(signInProblem(err.code, err.message));
    });
    this.renderShell();
  }

  private signOut(): void {
    saveSession(undefined);
    clearReviews();
    this.showSignIn();
  }

  private stop(): void {
    this.client?.close();
    this.client = undefined;
    clearInterval(this.ageTimer);
    this.ageTimer = undefined;
  }

  private statusChanged(client: VarselClient, status: Status): void {
    if (this.client !== client) return;
    this.status = status;
    if (status.state === "open") {
      saveSession(this.session); // the token was accepted: keep the session for a reload
      if (this.user === undefined) {
        this.user = status.user;
        this.model.restoreReviews(loadReviews(status.user)); // the inbox from before a reload
        this.savedReviews = this.model.reviewsVersion;
        this.renderShell(); // the user's name and teams
      } else this.showBanner();
      return;
    }
    if (status.state === "closed") {
      if (status.reason !== "closed by the client") this.showSignIn(signInProblem(status.code, status.reason));
      return;
    }
    this.showBanner();
  }

  // -- live updates ------------------------------------------------------------------------

  private updated(update: Update): void {
    this.model.apply(update);
    if (update.type === "event" && "alert" in update.event && update.event.alert.id === this.detail?.alertId) {
      this.shown = update.event.alert;
      this.detail.update(update.event.alert);
    }
    this.scheduleRender();
  }

  /** One render per frame however many events arrived. */
  private scheduleRender(): void {
    if (this.renderPending) return;
    this.renderPending = true;
    requestAnimationFrame(() => {
      this.renderPending = false;
      this.queue?.render();
      this.saveReviews();
      this.showBanner();
    });
  }

  private saveReviews(): void {
    if (this.user === undefined || this.model.reviewsVersion === this.savedReviews) return;
    this.savedReviews = this.model.reviewsVersion;
    saveReviews(this.user, [...this.model.reviews.values()]);
  }

  private showBanner(): void {
    const s = this.status;
    const lost = s !== undefined && (s.state === "reconnecting" || (s.state === "connecting" && s.attempt > 0));
    this.banner.hidden = !lost && s?.state !== "connecting";
    this.banner.textContent = lost ? t("reconnecting") : s?.state === "connecting" ? t("connecting") : "";
    this.banner.dataset.state = s?.state ?? "";
  }

  // -- the shell ---------------------------------------------------------------------------

  private renderShell(): void {
    const user = this.user;
    this.queue = new QueueView(
      this.model,
      (item) => this.select(item),
      (key) => {
        this.model.dismissReview(key);
        this.scheduleRender();
      },
    );
    this.detail = new DetailView(
      {
        ack: (alert, note) => this.client!.ack(alert.id, note),
        snooze: (alert, until, reason) => this.client!.snooze(alert, until, reason),
        endSnooze: (id) => this.client!.unsilence(id),
        history: (id) => this.client!.history(id),
        readings: (patient, metric, from) => this.client!.readings(patient, { metric, from, limit: 2000 }),
        lapsedAck: (id) => this.model.lapsedAcks.get(id),
      },
      () => this.closeDetail(),
    );
    this.handover = new HandoverView(
      user?.teams ?? [],
      (since) => this.client!.listAlerts({ since }),
      (alert) => {
        this.tab = "queue";
        this.renderShell();
        this.openAlert(alert);
      },
    );
    const tabs = h(
      "div",
      { class: "tabs", role: "tablist", "aria-label": t("appName") },
      this.tabButton("queue", t("tabQueue")),
      this.tabButton("handover", t("tabHandover")),
    );
    const main =
      this.tab === "queue"
        ? h("main", { class: "layout", id: "main", role: "tabpanel", "aria-labelledby": "tab-queue" }, this.queue.element, this.detail.element)
        : h("main", { class: "layout-single", id: "main", role: "tabpanel", "aria-labelledby": "tab-handover" }, this.handover.element);
    replaceChildren(
      this.root,
      h("a", { class: "skip", href: "#queue" }, t("skipToQueue")),
      h(
        "header",
        { class: "top" },
        h("h1", {}, t("appName")),
        h("span", { class: "who", id: "who" }, user ? t("signedInAs", { sub: user.sub, teams: user.teams.join(", ") }) : ""),
        h("div", { class: "tools" }, this.languageSwitch(() => this.renderShell()), h("button", { type: "button", class: "btn", id: "sign-out", onclick: () => this.signOut() }, t("signOut"))),
      ),
      this.banner,
      tabs,
      main,
    );
    this.queue.render(true);
    this.queue.select(this.selected);
    if (this.shown) this.detail.show(this.shown);
    this.showBanner();
    if (this.tab === "handover") void this.handover.load();
    clearInterval(this.ageTimer);
    this.ageTimer = setInterval(() => this.queue?.tick(), AGE_TICK_MS);
  }

  private tabButton(tab: Tab, label: string): HTMLElement {
    return h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${tab}`,
        "aria-selected": String(this.tab === tab),
        tabindex: this.tab === tab ? 0 : -1,
        onclick: () => {
          this.tab = tab;
          this.renderShell();
          document.getElementById(`tab-${tab}`)?.focus();
        },
        onkeydown: (e) => {
          const key = (e as KeyboardEvent).key;
          if (key !== "ArrowLeft" && key !== "ArrowRight") return;
          this.tab = this.tab === "queue" ? "handover" : "queue";
          this.renderShell();
          document.getElementById(`tab-${this.tab}`)?.focus();
        },
      },
      label,
    );
  }

  private languageSwitch(rerender: () => void): HTMLElement {
    return h(
      "div",
      { class: "lang", role: "group", "aria-label": t("language") },
      ...LANGS.map((lang: Lang) =>
        h(
          "button",
          {
            type: "button",
            lang,
            "aria-pressed": String(currentLang() === lang),
            "data-lang": lang,
            onclick: () => {
              setLang(lang);
              localStorage.setItem(LANG_KEY, lang);
              document.documentElement.lang = lang;
              rerender();
              document.querySelector<HTMLElement>(`[data-lang=${lang}]`)?.focus();
            },
          },
          t(`lang.${lang}`),
        ),
      ),
    );
  }

  // -- selection ---------------------------------------------------------------------------

  private select(item: QueueItem): void {
    if (item.kind !== "alert") return;
    this.openAlert(item.alert);
  }

  private openAlert(alert: Alert): void {
    this.selected = alert.id;
    this.shown = this.model.alerts.get(alert.id) ?? alert;
    this.queue?.select(alert.id);
    this.detail?.show(this.shown);
    this.detail?.element.focus();
  }

  private closeDetail(): void {
    const back = this.selected;
    this.selected = undefined;
    this.shown = undefined;
    this.queue?.select(undefined);
    this.detail?.showEmpty();
    if (back) document.querySelector<HTMLElement>(`button.row[data-key="${CSS.escape(back)}"]`)?.focus();
  }
}

/** Why a session could not start, in the user's words. */
function signInProblem(code: string | undefined, detail: string): string {
  if (code === "unauthorized") return t("signInError.unauthorized");
  if (code === "token_expired") return t("tokenExpiredSignIn");
  if (code === "forbidden") return t("signInError.forbidden");
  return `${t("signInError.network")} (${detail})`;
}

setLang(initialLang(localStorage.getItem(LANG_KEY), navigator.languages));
document.documentElement.lang = currentLang();
new BoardApp(document.getElementById("app")!).start();
