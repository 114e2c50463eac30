// Sign-in: paste a token, or (a server in development mode only) sign in as a clinician of
// some teams without one. The session lives in sessionStorage: this tab only, gone when it closes.
import { h } from "./dom.js";
import { devSignInOffered } from "./http.js";
import { t } from "./i18n.js";

export type Session = { kind: "token"; token: string } | { kind: "dev"; teams: string };

const SESSION_KEY = "varsel.session";
const DEFAULT_DEV_TEAMS = "hospital-lung,hospital-heart,hospital-diabetes,municipality-aarhus,gp-1234";

export function savedSession(): Session | undefined {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null") as Session | null;
    return s?.kind === "token" || s?.kind === "dev" ? s : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(session: Session | undefined): void {
  if (session === undefined) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

/** The sign-in page; `message` says why it is shown again (a refused or expired token). */
export function signInPage(onSignIn: (session: Session) => void, message?: string): HTMLElement {
  const token = h("textarea", { id: "token", required: true, spellcheck: "false", autocomplete: "off", rows: 5 });
  const dev = h("section", { hidden: true, "aria-labelledby": "dev-heading" });
  const devTeams = h("input", { type: "text", id: "dev-teams", value: DEFAULT_DEV_TEAMS, required: true, autocomplete: "off" });
  dev.append(
    h("h2", { id: "dev-heading" }, t("devSignIn")),
    h("p", {}, t("devSignInIntro")),
    h(
      "form",
      { onsubmit: (e) => (e.preventDefault(), onSignIn({ kind: "dev", teams: devTeams.value.trim() })) },
      h("label", { for: "dev-teams" }, t("devTeamsLabel")),
      devTeams,
      " ",
      h("button", { type: "submit", class: "btn", id: "dev-sign-in" }, t("devSignInButton")),
    ),
  );
  void devSignInOffered().then((offered) => (dev.hidden = !offered));
  const page = h(
    "main",
    { class: "signin", id: "main" },
    h("h1", {}, `${t("appName")}: ${t("signIn")}`),
    message ? h("p", { class: "error", role: "alert", id: "sign-in-error" }, message) : null,
    h(
      "section",
      {},
      h("p", {}, t("signInIntro")),
      h(
        "form",
        { onsubmit: (e) => (e.preventDefault(), token.value.trim() && onSignIn({ kind: "token", token: token.value.trim() })) },
        h("label", { for: "token" }, t("tokenLabel")),
        token,
        h("button", { type: "submit", class: "btn", id: "sign-in" }, t("signInButton")),
      ),
    ),
    dev,
  );
  queueMicrotask(() => token.focus());
  return page;
}
