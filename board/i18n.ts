// Danish and English: every text the board shows, and dates, times and numbers in the chosen
// language (Europe/Copenhagen time). Danish is the default for a Danish browser.

export type Lang = "da" | "en";
export const LANGS: readonly Lang[] = ["da", "en"];

const en = {
  appName: "varsel",
  skipToQueue: "Skip to the work queue",
  language: "Language",
  "lang.da": "Dansk",
  "lang.en": "English",
  signIn: "Sign in",
  signInIntro: "Paste your access token to see the alerts of your care teams.",
  tokenLabel: "Access token",
  signInButton: "Sign in",
  devSignIn: "Development sign-in",
  devSignInIntro: "This server runs in development mode with a generated secret (not for patient data). Sign in as a clinician of these teams without a token:",
  devTeamsLabel: "Care teams (comma-separated)",
  devSignInButton: "Sign in for development",
  signOut: "Sign out",
  signedInAs: "Signed in as {sub} · teams {teams}",
  "signInError.unauthorized": "The token was not accepted.",
  "signInError.token_expired": "The token has expired. Get a new one.",
  "signInError.forbidden": "This token may not read alerts (it needs the clinician role).",
  "signInError.network": "The server cannot be reached.",
  tokenExpiredSignIn: "Your sign-in has expired. Sign in again.",
  tabQueue: "Work queue",
  tabHandover: "Handover",
  queueHeading: "Open alerts",
  queueCount: "{n} open alerts · {patients} patients",
  queueEmpty: "No open alerts for your teams.",
  filterLabel: "Filter by patient or metric",
  reconnecting: "Connection lost: reconnecting… Alerts shown may be out of date.",
  connecting: "Connecting…",
  reconnected: "Connection restored.",
  "colour.red": "Red",
  "colour.yellow": "Yellow",
  "colour.blue": "Missing data",
  "colour.grey": "Not triaged",
  "priority.high": "high priority",
  "priority.medium": "medium priority",
  "priority.low": "low priority",
  "state.firing": "Firing",
  "state.cleared_awaiting_ack": "Cleared, awaiting acknowledgement",
  "state.resolved": "Resolved",
  "resolution.condition_cleared": "condition cleared",
  "resolution.acknowledged": "acknowledged",
  "resolution.rule_removed": "rule removed",
  "resolution.backfilled": "gap filled by late readings",
  "resolution.reading_withdrawn": "reading withdrawn",
  "review.not_triaged": "Not triaged: no thresholds for this metric",
  "review.reference_needed": "Not triaged: the baseline needs a reference value",
  "review.unit_mismatch": "Not triaged: reading in a unit that is not accepted",
  reviewCount: "{n} readings",
  dismiss: "Dismiss",
  ackedBy: "Acknowledged by {by}, {at}",
  silencedUntil: "Snoozed until {until}",
  inhibited: "Held back by another alert ({reason})",
  "inhibit.stale_data": "stale data",
  "inhibit.higher_severity": "a more severe alert",
  age: "{age} ago",
  patient: "Patient",
  detailEmpty: "Choose an alert in the work queue to see why it was raised.",
  close: "Close",
  why: "Why",
  rule: "Rule",
  ruleKind: "Kind",
  "kind.band": "limits",
  "kind.baseline": "deviation from baseline",
  "kind.delta": "change over time",
  "kind.rate": "trend",
  "kind.missing": "missing data",
  "kind.score": "NEWS2 score",
  "kind.unknown": "unknown",
  limits: "Limits in force",
  noLimits: "none",
  thresholdVersion: "version {v}",
  "limit.redLow": "red below {v}",
  "limit.yellowLow": "yellow below {v}",
  "limit.yellowHigh": "yellow above {v}",
  "limit.redHigh": "red above {v}",
  "limit.stale": "stale after {yellow} (yellow), {red} (red)",
  "limit.daily": "daily by {deadline}",
  triggers: "Readings that triggered it",
  triggerTime: "Time",
  triggerValue: "Decided by",
  "valueKind.band": "the reading",
  "valueKind.baseline": "deviation from the reference",
  "valueKind.delta": "change over the window",
  "valueKind.rate": "trend: slope, or the value forecast ahead",
  "valueKind.score": "score",
  "valueKind.missing": "overdue (minutes or deadlines)",
  trendValue: "trend {value}",
  triggerReading: "Reading",
  triggerTransition: "Change",
  withdrawn: "withdrawn by the source",
  missingParameters: "Missing NEWS2 parameters: {list}",
  "transition.raise": "raised",
  "transition.upgrade": "upgraded",
  "transition.downgrade": "downgraded",
  "transition.resolve": "cleared",
  "transition.clear": "cleared",
  history72h: "{metric}, last 72 hours",
  sparklineEmpty: "No stored readings in the last 72 hours.",
  sparklineSummary: "{n} readings from {min} to {max} {unit}; latest {last} {unit}",
  responsible: "Responsible",
  routedTo: "{team} ({role})",
  "role.hospital": "hospital",
  "role.municipality": "municipality",
  "role.gp": "GP",
  noRoute: "no care team",
  escalation: "Escalation",
  escalationStep: "step {step}; told: {notified}",
  escalationNext: "next escalation {at}",
  escalationDone: "escalation finished",
  acknowledge: "Acknowledge",
  noteLabel: "Note (optional)",
  ackButton: "Acknowledge",
  acked: "Acknowledged.",
  snooze: "Snooze",
  snoozeFor: "Snooze for",
  reasonLabel: "Reason (required)",
  snoozeButton: "Snooze",
  snoozed: "Snoozed until {until}.",
  endSnooze: "End snooze",
  "duration.30m": "30 minutes",
  "duration.1h": "1 hour",
  "duration.2h": "2 hours",
  "duration.4h": "4 hours",
  "duration.8h": "8 hours",
  "duration.24h": "24 hours",
  history: "History",
  historyEmpty: "No events stored.",
  "event.raised": "Raised",
  "event.updated": "Updated",
  "event.acknowledged": "Acknowledged by {by}",
  "event.resolved": "Resolved ({resolution})",
  "event.silenced": "Snoozed by {author} until {until}: {reason}",
  "event.unsilenced": "Snooze ended",
  "event.inhibited": "Held back",
  "event.uninhibited": "No longer held back",
  "event.escalated": "Escalated to {team}",
  "event.escalatedFinal": "Escalated to every team",
  "change.upgraded": "level raised",
  "change.downgraded": "level lowered",
  "change.cleared": "condition cleared",
  "change.reopened": "fired again",
  "change.rerouted": "care team changed",
  "change.silences": "a snooze ended",
  "change.reading_withdrawn": "a reading was withdrawn",
  "change.re_alerted": "still in condition after the acknowledgement: acknowledge again",
  handoverHeading: "Handover",
  handoverTeam: "Team",
  handoverSince: "Since",
  handoverShow: "Show",
  handoverOpen: "Open ({n})",
  handoverResolved: "Resolved since then ({n})",
  handoverNone: "None.",
  handoverRetention: "Resolved alerts are kept for 24 hours.",
  opened: "opened {at}",
  resolvedAt: "resolved {at}",
  loading: "Loading…",
  errorPrefix: "Failed: {message}",
  "metric.weight": "Weight",
  "metric.bp_sys": "Systolic blood pressure",
  "metric.bp_dia": "Diastolic blood pressure",
  "metric.pulse": "Pulse",
  "metric.spo2": "Oxygen saturation",
  "metric.temp": "Temperature",
  "metric.resp_rate": "Respiratory rate",
  "metric.glucose": "Blood glucose",
  "metric.cgm": "Sensor glucose",
  "metric.fev1": "FEV1",
  "metric.crp": "CRP",
  "metric.niv_usage": "Ventilator use",
  "metric.niv_leak": "Leak",
  "metric.niv_ahi": "Residual AHI",
  "metric.niv_tidal_volume": "Tidal volume",
  "metric.niv_minute_vent": "Minute ventilation",
  "metric.tcco2": "Transcutaneous CO₂",
  "metric.spo2_t90": "Night time with SpO₂ < 90 %",
  "metric.cat_score": "CAT score",
  "metric.mrc": "MRC dyspnoea",
  "metric.consciousness": "Consciousness",
  "metric.news2": "NEWS2",
};

export type TextKey = keyof typeof en;

const da: Record<TextKey, string> = {
  appName: "varsel",
  skipToQueue: "Gå til arbejdslisten",
  language: "Sprog",
  "lang.da": "Dansk",
  "lang.en": "English",
  signIn: "Log ind",
  signInIntro: "Indsæt dit adgangstoken for at se dine teams' alarmer.",
  tokenLabel: "Adgangstoken",
  signInButton: "Log ind",
  devSignIn: "Udviklerlogin",
  devSignInIntro: "Serveren kører i udviklingstilstand med en genereret nøgle (ikke til patientdata). Log ind som kliniker i disse teams uden token:",
  devTeamsLabel: "Teams (kommasepareret)",
  devSignInButton: "Log ind til udvikling",
  signOut: "Log ud",
  signedInAs: "Logget ind som {sub} · teams {teams}",
  "signInError.unauthorized": "Tokenet blev ikke godkendt.",
  "signInError.token_expired": "Tokenet er udløbet. Hent et nyt.",
  "signInError.forbidden": "Dette token må ikke læse alarmer (det kræver rollen kliniker).",
  "signInError.network": "Serveren kan ikke nås.",
  tokenExpiredSignIn: "Dit login er udløbet. Log ind igen.",
  tabQueue: "Arbejdsliste",
  tabHandover: "Overlevering",
  queueHeading: "Åbne alarmer",
  queueCount: "{n} åbne alarmer · {patients} patienter",
  queueEmpty: "Ingen åbne alarmer for dine teams.",
  filterLabel: "Filtrér på patient eller måling",
  reconnecting: "Forbindelsen er afbrudt: genopretter… Viste alarmer kan være forældede.",
  connecting: "Forbinder…",
  reconnected: "Forbindelsen er genoprettet.",
  "colour.red": "Rød",
  "colour.yellow": "Gul",
  "colour.blue": "Mangler data",
  "colour.grey": "Ikke triageret",
  "priority.high": "høj prioritet",
  "priority.medium": "middel prioritet",
  "priority.low": "lav prioritet",
  "state.firing": "Aktiv",
  "state.cleared_awaiting_ack": "Normaliseret, afventer kvittering",
  "state.resolved": "Afsluttet",
  "resolution.condition_cleared": "normaliseret",
  "resolution.acknowledged": "kvitteret",
  "resolution.rule_removed": "regel fjernet",
  "resolution.backfilled": "hul udfyldt af forsinkede målinger",
  "resolution.reading_withdrawn": "måling tilbagekaldt",
  "review.not_triaged": "Ikke triageret: ingen grænser for denne måling",
  "review.reference_needed": "Ikke triageret: baseline mangler en referenceværdi",
  "review.unit_mismatch": "Ikke triageret: måling i en enhed, der ikke accepteres",
  reviewCount: "{n} målinger",
  dismiss: "Afvis",
  ackedBy: "Kvitteret af {by}, {at}",
  silencedUntil: "Udsat til {until}",
  inhibited: "Holdt tilbage af en anden alarm ({reason})",
  "inhibit.stale_data": "forældede data",
  "inhibit.higher_severity": "en alvorligere alarm",
  age: "for {age} siden",
  patient: "Patient",
  detailEmpty: "Vælg en alarm i arbejdslisten for at se, hvorfor den blev rejst.",
  close: "Luk",
  why: "Hvorfor",
  rule: "Regel",
  ruleKind: "Type",
  "kind.band": "grænser",
  "kind.baseline": "afvigelse fra baseline",
  "kind.delta": "ændring over tid",
  "kind.rate": "tendens",
  "kind.missing": "manglende data",
  "kind.score": "NEWS2-score",
  "kind.unknown": "ukendt",
  limits: "Gældende grænser",
  noLimits: "ingen",
  thresholdVersion: "version {v}",
  "limit.redLow": "rød under {v}",
  "limit.yellowLow": "gul under {v}",
  "limit.yellowHigh": "gul over {v}",
  "limit.redHigh": "rød over {v}",
  "limit.stale": "forældet efter {yellow} (gul), {red} (rød)",
  "limit.daily": "dagligt inden {deadline}",
  triggers: "Målinger der udløste den",
  triggerTime: "Tid",
  triggerValue: "Afgjort af",
  "valueKind.band": "målingen",
  "valueKind.baseline": "afvigelse fra referencen",
  "valueKind.delta": "ændring over perioden",
  "valueKind.rate": "tendens: hældning eller forventet værdi",
  "valueKind.score": "score",
  "valueKind.missing": "overskredet (minutter eller frister)",
  trendValue: "tendens {value}",
  triggerReading: "Måling",
  triggerTransition: "Ændring",
  withdrawn: "trukket tilbage af kilden",
  missingParameters: "Manglende NEWS2-parametre: {list}",
  "transition.raise": "rejst",
  "transition.upgrade": "skærpet",
  "transition.downgrade": "nedgraderet",
  "transition.resolve": "normaliseret",
  "transition.clear": "normaliseret",
  history72h: "{metric}, seneste 72 timer",
  sparklineEmpty: "Ingen gemte målinger de seneste 72 timer.",
  sparklineSummary: "{n} målinger fra {min} til {max} {unit}; seneste {last} {unit}",
  responsible: "Ansvarlig",
  routedTo: "{team} ({role})",
  "role.hospital": "hospital",
  "role.municipality": "kommune",
  "role.gp": "egen læge",
  noRoute: "intet team",
  escalation: "Eskalering",
  escalationStep: "trin {step}; underrettet: {notified}",
  escalationNext: "næste eskalering {at}",
  escalationDone: "eskalering afsluttet",
  acknowledge: "Kvittér",
  noteLabel: "Note (valgfri)",
  ackButton: "Kvittér",
  acked: "Kvitteret.",
  snooze: "Udsæt",
  snoozeFor: "Udsæt i",
  reasonLabel: "Begrundelse (skal udfyldes)",
  snoozeButton: "Udsæt",
  snoozed: "Udsat til {until}.",
  endSnooze: "Afslut udsættelse",
  "duration.30m": "30 minutter",
  "duration.1h": "1 time",
  "duration.2h": "2 timer",
  "duration.4h": "4 timer",
  "duration.8h": "8 timer",
  "duration.24h": "24 timer",
  history: "Historik",
  historyEmpty: "Ingen gemte hændelser.",
  "event.raised": "Rejst",
  "event.updated": "Opdateret",
  "event.acknowledged": "Kvitteret af {by}",
  "event.resolved": "Afsluttet ({resolution})",
  "event.silenced": "Udsat af {author} til {until}: {reason}",
  "event.unsilenced": "Udsættelse slut",
  "event.inhibited": "Holdt tilbage",
  "event.uninhibited": "Ikke længere holdt tilbage",
  "event.escalated": "Eskaleret til {team}",
  "event.escalatedFinal": "Eskaleret til alle teams",
  "change.upgraded": "niveau hævet",
  "change.downgraded": "niveau sænket",
  "change.cleared": "normaliseret",
  "change.reopened": "udløst igen",
  "change.rerouted": "team ændret",
  "change.silences": "en udsættelse sluttede",
  "change.reading_withdrawn": "en måling blev trukket tilbage",
  "change.re_alerted": "stadig uden for grænsen efter kvitteringen: kvittér igen",
  handoverHeading: "Overlevering",
  handoverTeam: "Team",
  handoverSince: "Siden",
  handoverShow: "Vis",
  handoverOpen: "Åbne ({n})",
  handoverResolved: "Afsluttet siden da ({n})",
  handoverNone: "Ingen.",
  handoverRetention: "Afsluttede alarmer gemmes i 24 timer.",
  opened: "åbnet {at}",
  resolvedAt: "afsluttet {at}",
  loading: "Henter…",
  errorPrefix: "Fejlede: {message}",
  "metric.weight": "Vægt",
  "metric.bp_sys": "Systolisk blodtryk",
  "metric.bp_dia": "Diastolisk blodtryk",
  "metric.pulse": "Puls",
  "metric.spo2": "Iltmætning",
  "metric.temp": "Temperatur",
  "metric.resp_rate": "Respirationsfrekvens",
  "metric.glucose": "Blodsukker",
  "metric.cgm": "Sensorglukose",
  "metric.fev1": "FEV1",
  "metric.crp": "CRP",
  "metric.niv_usage": "Brug af ventilator",
  "metric.niv_leak": "Lækage",
  "metric.niv_ahi": "Resterende AHI",
  "metric.niv_tidal_volume": "Tidalvolumen",
  "metric.niv_minute_vent": "Minutventilation",
  "metric.tcco2": "Transkutan CO₂",
  "metric.spo2_t90": "Tid om natten med SpO₂ < 90 %",
  "metric.cat_score": "CAT-score",
  "metric.mrc": "MRC-dyspnø",
  "metric.consciousness": "Bevidsthed",
  "metric.news2": "NEWS2",
};

export const TEXTS: Record<Lang, Record<TextKey, string>> = { en, da };

let lang: Lang = "da";

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  lang = next;
}

/** The language to start in: the one chosen before, else Danish unless the browser prefers another. */
export function initialLang(stored: string | null, browser: readonly string[]): Lang {
  if (stored === "da" || stored === "en") return stored;
  const first = browser[0]?.toLowerCase() ?? "da";
  return first.startsWith("da") || first.startsWith("nb") || first.startsWith("nn") || first.startsWith("sv") ? "da" : "en";
}

/** A text in the current language, `{name}` filled in from `params`. */
export function t(key: TextKey, params: Record<string, string | number> = {}): string {
  return TEXTS[lang][key].replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** A text whose key is made at run time (metric names, event types); the key itself when unknown. */
export function tOr(key: string, fallback: string, params: Record<string, string | number> = {}): string {
  return key in en ? t(key as TextKey, params) : fallback;
}

const LOCALE: Record<Lang, string> = { da: "da-DK", en: "en-GB" };
const ZONE = "Europe/Copenhagen";

/** Formatters are costly to make (a queue of 1 000 rows formats thousands of times): one per language. */
const formats = new Map<Lang, { time: Intl.DateTimeFormat; number: Intl.NumberFormat }>();

function formatsOf(l: Lang) {
  let f = formats.get(l);
  if (f === undefined) {
    f = {
      time: new Intl.DateTimeFormat(LOCALE[l], { timeZone: ZONE, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }),
      number: new Intl.NumberFormat(LOCALE[l], { maximumFractionDigits: 2 }),
    };
    formats.set(l, f);
  }
  return f;
}

/** Date and time, e.g. "5. dec. 14.03" / "5 Dec, 14:03" (Copenhagen time). */
export function formatTime(ms: number): string {
  return formatsOf(lang).time.format(ms);
}

/** A number as the language writes it (decimal comma in Danish), at most 2 decimals. */
export function formatNumber(value: number): string {
  return formatsOf(lang).number.format(value);
}

/** An elapsed time, short: "45 s", "12 min", "3 h 5 min", "2 d". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return lang === "da" ? `${h} t ${min % 60} min` : `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} d`;
}

/** The metric's display name. */
export function metricName(metric: string): string {
  return tOr(`metric.${metric}`, metric);
}

/** Canonical UCUM units as a clinician reads them. */
const UNIT_LABEL: Record<string, string> = { Cel: "°C", "mm[Hg]": "mmHg", "/min": "/min", "{score}": "", "1": "" };

export function unitLabel(unit: string): string {
  return UNIT_LABEL[unit] ?? unit;
}
