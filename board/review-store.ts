// Readings awaiting review come only as live events (a snapshot has open alerts, not them), so
// a reload would lose them: they are kept in sessionStorage, like the session itself (this tab
// only, gone when it closes), under the signed-in user and teams. Another user in the same tab
// never sees them; signing out removes them.
import type { ReviewItem } from "./model.js";

const KEY = "varsel.reviews";
/** Enough for any inbox a clinician works through; the newest are kept. */
const MAX_SAVED = 500;

export interface ReviewOwner {
  sub: string;
  teams: readonly string[];
}

const ownerId = (o: ReviewOwner) => JSON.stringify([o.sub, [...o.teams].sort()]);

/** The items saved for this user and teams (none for anyone else, or when the save is unreadable). */
export function loadReviews(owner: ReviewOwner): ReviewItem[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as { owner: string; items: ReviewItem[] } | null;
    return saved?.owner === ownerId(owner) && Array.isArray(saved.items) ? saved.items : [];
  } catch {
    return [];
  }
}

export function saveReviews(owner: ReviewOwner, items: readonly ReviewItem[]): void {
  const newest = [...items].sort((a, b) => b.at - a.at).slice(0, MAX_SAVED);
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ owner: ownerId(owner), items: newest }));
  } catch {
    // Storage full or disabled: the inbox still works, it just does not survive a reload.
  }
}

export function clearReviews(): void {
  sessionStorage.removeItem(KEY);
}
