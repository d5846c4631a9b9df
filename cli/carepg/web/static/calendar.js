// The calendar page: a worker's available shifts month by month or week by week, a Claim button on each, and the
// shifts they hold ("My shifts") with Release. Plain DOM, no framework, no build step. All text from the API goes
// in through textContent.
//
// A month or week asks the API for what is on screen: /days gives every visible day's count and first few shifts
// in one call (never paging from the first shift of the data set); a day's "more" continues that day only.
//
// Live: while a worker's period is on screen the page follows /workers/{id}/events for it, and what is on screen
// is asked again when something there changes (a shift claimed in another tab goes, a new one comes).
//
// Signing in: every worker request carries a bearer token. It comes pasted into the sign-in form, or in a link's
// fragment (/#token=..., which browsers never send to the server, so it stays out of its logs), and is kept in
// this tab only (sessionStorage). The page reads the token's claims to say who is signed in; the server verifies it.
"use strict";

const DAY_MS = 86400000;
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];
const PER_DAY = { month: 3, week: 20 };  // shifts shown per day; the count covers the rest
const MORE_OF_A_DAY = 50;
const MINE_PAGE = 50;

const $ = (id) => document.getElementById(id);
// `lookup` and `request` count lookups and loads, so that an answer arriving after a newer one is dropped.
const state = { worker: null, view: "month", anchor: null, days: new Map(), mine: [], mineCursor: null, lookup: 0,
  request: 0, token: null, who: null };
const TOKEN_KEY = "carepg.token";

// --- dates (all UTC: the API's timestamps are naive UTC) ----------------------------------------------------

const utc = (y, m, d) => new Date(Date.UTC(y, m, d));
const isoDate = (date) => date.toISOString().slice(0, 10);
const parseDate = (text) => utc(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10));
const addDays = (date, n) => new Date(date.getTime() + n * DAY_MS);
const mondayOf = (date) => addDays(date, -((date.getUTCDay() + 6) % 7));
const count = (n, what) => `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;

function period() {
  const a = state.anchor;
  if (state.view === "month") {
    const start = utc(a.getUTCFullYear(), a.getUTCMonth(), 1);
    return { start, end: utc(a.getUTCFullYear(), a.getUTCMonth() + 1, 1) };
  }
  const start = mondayOf(a);
  return { start, end: addDays(start, 7) };
}

function periodTitle({ start, end }) {
  if (state.view === "mine") return `Shifts worker ${state.worker} holds`;
  if (state.view === "month") return `${MONTHS[start.getUTCMonth()]} ${start.getUTCFullYear()}`;
  const last = addDays(end, -1);
  return `Week of ${start.getUTCDate()} ${MONTHS[start.getUTCMonth()].slice(0, 3)} – ` +
    `${last.getUTCDate()} ${MONTHS[last.getUTCMonth()].slice(0, 3)} ${last.getUTCFullYear()}`;
}

function describe(shift) {
  const day = parseDate(shift.start);
  return `${WEEKDAYS[(day.getUTCDay() + 6) % 7]} ${day.getUTCDate()} ${MONTHS[day.getUTCMonth()].slice(0, 3)}, ` +
    `${shift.start.slice(11, 16)}–${shift.end.slice(11, 16)} at facility ${shift.facility.id} ` +
    `${(shift.facility.name || "").slice(0, 12)}`.trimEnd();
}

// --- signing in -------------------------------------------------------------------------------------------------

// The token's claims, for display only (the server is what verifies them); null for text that is no JWT.
function claimsOf(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const claims = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/")));
    return claims && typeof claims === "object" ? claims : null;
  } catch (err) {
    return null;
  }
}

function whoOf(claims) {
  if (claims.role === "staff") return { staff: true, worker: null, label: "staff (any worker)" };
  const worker = /^[1-9][0-9]{0,9}$/.test(claims.sub || "") ? +claims.sub : null;
  return { staff: false, worker, label: worker ? `worker ${worker}` : "no worker" };
}

function signIn(token) {
  const claims = claimsOf(token);
  if (!claims) {
    setStatus("That is not a sign-in token: paste the whole token `carepg token WORKER` printed.", "error");
    return false;
  }
  state.token = token;
  state.who = whoOf(claims);
  sessionStorage.setItem(TOKEN_KEY, token);
  renderSession();
  return true;
}

function signOut(message) {
  unfollow();
  state.token = null;
  state.who = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("calendar").hidden = true;
  renderSession();
  setStatus(message, message === SIGNED_OUT ? "" : "error");
}

const SIGNED_OUT = "Sign in to see shifts: paste a token (`carepg token WORKER` prints one) or open the sign-in " +
  "link `carepg serve` printed.";

function renderSession() {
  $("signin").hidden = Boolean(state.token);
  $("session").hidden = !state.token;
  $("lookup").hidden = !state.token;
  if (state.token) $("who").textContent = `Signed in as ${state.who.label}`;
}

// --- the API --------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail, reason, retryAfter) {
    super(detail);
    this.status = status;
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "The server cannot be reached.");
  }
  const payload = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, payload.detail || response.statusText, payload.reason,
      response.headers.get("Retry-After"));
  }
  return payload;
}

const workerPath = (rest) => `/workers/${state.worker}/${rest}`;

function explain(err) {
  if (err.status === 401) {
    signOut(err.reason === "invalid_token"
      ? `Your sign-in was not accepted (${err.message}). Sign in again.`
      : "You are not signed in. " + SIGNED_OUT);
    return $("status").textContent;
  }
  if (err.status === 403 && err.reason === "not_your_worker") {
    return `You are signed in as ${state.who ? state.who.label : "someone else"}: worker ${state.worker}'s shifts ` +
      "are not yours to see or take. Sign in as that worker, or look up your own id.";
  }
  if (err.status === 404) return `No worker with id ${state.worker}. Check the id and try again.`;
  if (err.status === 503) return `The database is unavailable right now; try again in ${err.retryAfter || "a few"} seconds.`;
  if (err.status === 400) return `That request was not accepted: ${err.message}`;
  return err.message;
}

// Why a claim was refused, in words (the API's `reason` names the rule).
const CLAIM_REFUSED = {
  taken: "someone else has just taken it.",
  overlap: "it overlaps a shift you already hold (see My shifts).",
  shift_deleted: "it has been withdrawn.",
  worker_inactive: "your account is not active.",
  facility_inactive: "the facility is not taking workers right now.",
  profession: "it is for another profession.",
  documents: "you are missing documents this facility requires.",
};

function whyNot(err) {
  if (err.status === 401 || (err.status === 403 && err.reason === "not_your_worker")) return explain(err);
  if (err.reason && CLAIM_REFUSED[err.reason]) return CLAIM_REFUSED[err.reason];
  if (err.status === 404) return "it no longer exists.";
  return explain(err);
}

function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = kind;
}

// --- flow -------------------------------------------------------------------------------------------------------

async function lookup(workerText, view, dateText) {
  if (!/^[0-9]{1,10}$/.test(workerText) || +workerText < 1) {
    setStatus("A worker id is a whole number, like 101.", "error");
    return;
  }
  state.worker = +workerText;
  state.view = ["month", "week", "mine"].includes(view) ? view : "month";
  $("calendar").hidden = true;
  setStatus(`Looking up worker ${state.worker}…`);
  const ticket = ++state.lookup;
  try {
    let anchor = dateText && /^\d{4}-\d{2}-\d{2}$/.test(dateText) ? parseDate(dateText) : null;
    let none = false;
    if (!anchor) {
      // Open on the period of the worker's first available shift.
      const first = await api(workerPath("shifts?limit=1"));
      if (ticket !== state.lookup) return;
      none = first.shifts.length === 0;
      anchor = none ? utc(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) : parseDate(first.shifts[0].start);
    }
    state.anchor = anchor;
    await load();
    if (ticket !== state.lookup) return;
    setStatus(none ? `Worker ${state.worker} has no available shifts.` : `Available shifts for worker ${state.worker}.`);
  } catch (err) {
    if (ticket === state.lookup) setStatus(explain(err), "error");
  }
}

async function load() {
  return state.view === "mine" ? loadMine(true) : loadDays();
}

async function loadDays() {
  const ticket = ++state.request;
  const { start, end } = period();
  const query = new URLSearchParams({ from: isoDate(start), to: isoDate(end), per_day: PER_DAY[state.view] });
  const body = await api(workerPath(`days?${query}`));
  if (ticket !== state.request) return;
  state.days = new Map(body.days.map((d) => [d.date, d]));
  remember();
  render();
  follow();
}

async function moreOfDay(key, button) {
  const day = state.days.get(key);
  const query = new URLSearchParams({ from: key, to: isoDate(addDays(parseDate(key), 1)), limit: MORE_OF_A_DAY,
    cursor: day.next_cursor });
  button.disabled = true;
  try {
    const page = await api(workerPath(`shifts?${query}`));
    day.shifts = day.shifts.concat(page.shifts);
    day.next_cursor = page.next_cursor;
    render();
  } catch (err) {
    setStatus(explain(err), "error");
    button.disabled = false;
  }
}

async function loadMine(fresh) {
  const ticket = fresh ? ++state.request : state.request;
  const query = new URLSearchParams({ limit: MINE_PAGE });
  if (!fresh && state.mineCursor) query.set("cursor", state.mineCursor);
  $("more").disabled = true;
  try {
    const page = await api(workerPath(`claims?${query}`));
    if (ticket !== state.request) return;
    state.mine = (fresh ? [] : state.mine).concat(page.shifts);
    state.mineCursor = page.next_cursor;
    remember();
    render();
    follow();
  } finally {
    $("more").disabled = false;
  }
}

async function claim(shift, button) {
  button.disabled = true;
  try {
    const held = await api(workerPath("claims"), { method: "POST", body: { shift_id: shift.id } });
    setStatus(`You claimed shift ${shift.id}: ${describe(held)}.`, "done");
    // At once: the shift leaves the list; then the period is asked again, so the shifts that overlap it go too.
    document.querySelectorAll(`.shift[data-shift-id="${shift.id}"]`).forEach((node) => node.remove());
  } catch (err) {
    setStatus(`Shift ${shift.id} could not be claimed: ${whyNot(err)}`, "error");
  }
  try {
    await loadDays();
  } catch (err) {
    setStatus(explain(err), "error");
  }
}

async function release(shift, button) {
  button.disabled = true;
  try {
    await api(workerPath(`claims/${shift.id}`), { method: "DELETE" });
    setStatus(`You released shift ${shift.id} (${describe(shift)}); it is open to others again.`, "done");
  } catch (err) {
    setStatus(err.status === 404 ? `You no longer hold shift ${shift.id}.` : explain(err), "error");
  }
  try {
    await loadMine(true);
  } catch (err) {
    setStatus(explain(err), "error");
  }
}

// --- live updates -----------------------------------------------------------------------------------------------
//
// Server-Sent Events, read with fetch rather than EventSource so that the request carries the bearer token. Any
// event reloads what is on screen, shortly after (a day's count and first few shifts are the server's to say);
// `ready` means the stream is listening. A dropped stream comes back after a pause with Last-Event-ID: the server
// sends what was missed.
const live = { key: null, controller: null, lastId: null, reload: null, pause: 1000 };

function follow() {
  if (!state.worker || !state.token) return unfollow();
  const span = state.view === "mine" ? "" : (({ start, end }) =>
    `?${new URLSearchParams({ from: isoDate(start), to: isoDate(end) })}`)(period());
  const key = `/workers/${state.worker}/events${span}`;
  if (live.key === key && live.controller) return;
  unfollow();
  live.key = key;
  live.lastId = null;
  listen(key, (live.controller = new AbortController()));
}

function unfollow() {
  if (live.controller) live.controller.abort();
  live.controller = null;
  live.key = null;
  clearTimeout(live.reload);
}

async function listen(path, controller) {
  while (!controller.signal.aborted) {
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${state.token}` };
    if (live.lastId) headers["Last-Event-ID"] = live.lastId;
    try {
      const response = await fetch(path, { headers, signal: controller.signal });
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        const payload = await response.json().catch(() => ({}));
        setStatus(explain(new ApiError(response.status, payload.detail, payload.reason)), "error");
        return;
      }
      if (response.ok) await readEvents(response.body.getReader());
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    await new Promise((done) => setTimeout(done, live.pause));  // then come back from the last event's id
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let kind = null;
      for (const line of message.split("\n")) {
        if (line.startsWith("id: ")) live.lastId = line.slice(4);
        else if (line.startsWith("event: ")) kind = line.slice(7);
      }
      if (kind && kind !== "ready") {
        clearTimeout(live.reload);  // one reload for a burst of events
        live.reload = setTimeout(() => load().catch((err) => setStatus(explain(err), "error")), 150);
      }
    }
  }
}

function remember() {
  const query = new URLSearchParams({ worker: state.worker, view: state.view, date: isoDate(state.anchor) });
  history.replaceState(null, "", `?${query}`);
}

function move(direction) {
  const a = state.anchor;
  state.anchor = state.view === "month"
    ? utc(a.getUTCFullYear(), a.getUTCMonth() + direction, 1)
    : addDays(mondayOf(a), 7 * direction);
  loadDays().catch((err) => setStatus(explain(err), "error"));
}

function switchView(view, anchor) {
  if (view === state.view && !anchor) return;
  if (anchor) {
    state.anchor = anchor;
  } else if (view === "week" && state.view === "month" && state.days.size) {
    state.anchor = parseDate([...state.days.keys()][0]);  // the week where this month's shifts begin
  }
  state.view = view;
  load().catch((err) => setStatus(explain(err), "error"));
}

// --- rendering ----------------------------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, label, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  if (label) node.setAttribute("aria-label", label);
  node.addEventListener("click", () => onClick(node));
  return node;
}

// A facility as a person tells them apart: its id always ("F4"), and where there is room the start of its name
// (the challenge's names are 40-character hashes: cut to their first letter, as a month cell once showed them,
// they all looked alike; a month cell now shows the id alone).
function facilityLabel(facility) {
  const label = el("span", "facility");
  label.append(el("span", "facility-id", `F${facility.id}`));
  if (facility.name) label.append(el("span", "facility-name", ` ${facility.name.slice(0, 12)}`));
  return label;
}

function shiftItem(shift, action) {
  const item = el("li", "shift");
  item.dataset.shiftId = shift.id;
  item.title = `Shift ${shift.id} · ${shift.profession} · facility ${shift.facility.id}: ${shift.facility.name}`;
  // A month cell shows when a shift starts and where (as a month view does); a week, the whole hours (CSS).
  const hours = el("time", "hours", shift.start.slice(11, 16));
  hours.append(el("span", "until", `–${shift.end.slice(11, 16)}`));
  item.append(hours);
  item.append(facilityLabel(shift.facility));
  item.append(action);
  return item;
}

function claimButton(shift) {
  return button("claim", "Claim", `Claim shift ${shift.id}, ${describe(shift)}`, (node) => claim(shift, node));
}

function render() {
  const mine = state.view === "mine";
  for (const view of ["month", "week", "mine"]) {
    $(`view-${view}`).setAttribute("aria-pressed", String(state.view === view));
  }
  $("prev").hidden = $("next").hidden = mine;
  $("grid").hidden = mine;
  $("mine").hidden = !mine;
  if (mine) renderMine();
  else renderDays();
  $("calendar").hidden = false;
}

function renderDays() {
  const range = period();
  $("period").textContent = periodTitle(range);
  const grid = $("grid");
  grid.className = `grid ${state.view}`;
  grid.replaceChildren(...WEEKDAYS.map((name) => el("div", "weekday", name)));
  const first = mondayOf(range.start);
  const last = state.view === "month" ? addDays(mondayOf(addDays(range.end, -1)), 7) : range.end;
  let total = 0;
  for (let day = first; day < last; day = addDays(day, 1)) {
    const key = isoDate(day);
    const outside = day < range.start || day >= range.end;
    const data = outside ? null : state.days.get(key);
    const cell = el("div", "day");
    cell.dataset.date = key;
    if (outside) cell.classList.add("outside");
    if (!data) cell.classList.add("empty");
    const head = el("div", "date");
    head.append(el("span", "dow", WEEKDAYS[(day.getUTCDay() + 6) % 7] + " "), `${day.getUTCDate()}`);
    if (state.view === "month" && day.getUTCDate() === 1) head.append(` ${MONTHS[day.getUTCMonth()].slice(0, 3)}`);
    cell.append(head);
    if (!outside) {
      cell.append(el("p", "count", data ? count(data.available, "shift") : "No shifts"));
      if (data) {
        total += data.available;
        const list = el("ul", "shifts");
        list.append(...data.shifts.map((s) => shiftItem(s, claimButton(s))));
        cell.append(list);
        const rest = data.available - data.shifts.length;
        if (rest > 0 && state.view === "month") {
          cell.append(button("overflow", `+${rest.toLocaleString("en-US")} more`, `Show the week of ${key}`,
            () => switchView("week", day)));
        } else if (rest > 0) {
          cell.append(button("overflow", `Show more (${rest.toLocaleString("en-US")} left)`, `More shifts on ${key}`,
            (node) => moreOfDay(key, node)));
        }
      }
    }
    grid.append(cell);
  }
  $("loaded").textContent = total === 0
    ? "No available shifts in this period."
    : `${count(total, "shift")} available this ${state.view}.`;
  $("more").hidden = true;
}

function renderMine() {
  $("period").textContent = periodTitle({});
  const list = $("mine-list");
  list.replaceChildren(...state.mine.map((s) => {
    const item = shiftItem(s, button("release", "Release", `Release shift ${s.id}, ${describe(s)}`,
      (node) => release(s, node)));
    item.prepend(el("span", "when", describe(s).split(",")[0]));
    return item;
  }));
  $("loaded").textContent = state.mine.length === 0
    ? `Worker ${state.worker} holds no shifts.`
    : `${count(state.mine.length, "shift")} held` + (state.mineCursor ? " so far (more below)." : ".");
  $("more").hidden = !state.mineCursor;
}

// --- wiring ---------------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    lookup($("worker").value.trim(), state.view, null);
  });
  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (signIn(token)) start(null);
  });
  $("signout").addEventListener("click", () => signOut(SIGNED_OUT));
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("view-month").addEventListener("click", () => switchView("month"));
  $("view-week").addEventListener("click", () => switchView("week"));
  $("view-mine").addEventListener("click", () => switchView("mine"));
  $("more").addEventListener("click", () => loadMine(false).catch((err) => setStatus(explain(err), "error")));

  // A sign-in link: take the token from the fragment, and take the fragment out of the address bar and history.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    history.replaceState(null, "", location.pathname + location.search);
    signIn(fragment.get("token"));
  } else if (sessionStorage.getItem(TOKEN_KEY)) {
    signIn(sessionStorage.getItem(TOKEN_KEY));
  }
  renderSession();
  if (!state.token) {
    setStatus(SIGNED_OUT);
    return;
  }
  start(new URLSearchParams(location.search));
});

// After signing in: the worker the address names, else the signed-in worker's own shifts.
function start(params) {
  const worker = (params && params.get("worker")) || (state.who.worker ? String(state.who.worker) : "");
  if (!worker) {
    setStatus("Signed in as staff: enter a worker id to see the shifts they can take.");
    return;
  }
  $("worker").value = worker;
  lookup(worker, params && params.get("view"), params && params.get("date"));
}
