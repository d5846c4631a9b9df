// The calendar page: a worker's available shifts month by month or week by week, paged through the API's
// cursor. Plain DOM, no framework, no build step. All text from the API goes in through textContent.
"use strict";

const PAGE_SIZE = 500;
const DAY_MS = 86400000;
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];
const PER_DAY_IN_MONTH = 3;

const $ = (id) => document.getElementById(id);
const state = { worker: null, view: "month", anchor: null, shifts: [], cursor: null, request: 0 };

// --- dates (all UTC: the API's timestamps are naive UTC) ----------------------------------------------------

const utc = (y, m, d) => new Date(Date.UTC(y, m, d));
const isoDate = (date) => date.toISOString().slice(0, 10);
const parseDate = (text) => utc(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10));
const addDays = (date, n) => new Date(date.getTime() + n * DAY_MS);
const mondayOf = (date) => addDays(date, -((date.getUTCDay() + 6) % 7));

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
  if (state.view === "month") return `${MONTHS[start.getUTCMonth()]} ${start.getUTCFullYear()}`;
  const last = addDays(end, -1);
  return `Week of ${start.getUTCDate()} ${MONTHS[start.getUTCMonth()].slice(0, 3)} – ` +
    `${last.getUTCDate()} ${MONTHS[last.getUTCMonth()].slice(0, 3)} ${last.getUTCFullYear()}`;
}

// --- the API --------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

async function fetchPage(params) {
  const query = new URLSearchParams(params);
  let response;
  try {
    response = await fetch(`/workers/${state.worker}/shifts?${query}`, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, "The server cannot be reached.");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, body.detail || response.statusText, response.headers.get("Retry-After"));
  }
  return body;
}

function explain(err) {
  if (err.status === 404) return `No worker with id ${state.worker}. Check the id and try again.`;
  if (err.status === 503) return `The database is unavailable right now; try again in ${err.retryAfter || "a few"} seconds.`;
  if (err.status === 400) return `That request was not accepted: ${err.message}`;
  return err.message;
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
  state.view = view === "week" ? "week" : "month";
  $("calendar").hidden = true;
  setStatus(`Looking up worker ${state.worker}…`);
  const ticket = ++state.request;
  try {
    let anchor = dateText && /^\d{4}-\d{2}-\d{2}$/.test(dateText) ? parseDate(dateText) : null;
    if (!anchor) {
      // Open on the period of the worker's first available shift.
      const first = await fetchPage({ limit: 1 });
      if (ticket !== state.request) return;
      if (first.shifts.length === 0) {
        setStatus(`Worker ${state.worker} has no available shifts.`);
        return;
      }
      anchor = parseDate(first.shifts[0].start);
    }
    state.anchor = anchor;
    await loadPeriod();
  } catch (err) {
    if (ticket === state.request) setStatus(explain(err), "error");
  }
}

async function loadPeriod() {
  state.shifts = [];
  state.cursor = null;
  await loadMore(true);
}

async function loadMore(fresh = false) {
  const ticket = fresh ? ++state.request : state.request;
  const { start, end } = period();
  const params = { from: isoDate(start), to: isoDate(end), limit: PAGE_SIZE };
  if (state.cursor) params.cursor = state.cursor;
  $("more").disabled = true;
  try {
    const page = await fetchPage(params);
    if (ticket !== state.request) return;
    state.shifts = state.shifts.concat(page.shifts);
    state.cursor = page.next_cursor;
    remember();
    render();
  } catch (err) {
    if (ticket === state.request) setStatus(explain(err), "error");
  } finally {
    $("more").disabled = false;
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
  loadPeriod();
}

function switchView(view) {
  if (view === state.view) return;
  if (view === "week" && state.view === "month" && state.shifts.length) {
    state.anchor = parseDate(state.shifts[0].start);  // the week where this month's shifts begin
  }
  state.view = view;
  loadPeriod();
}

// --- rendering ----------------------------------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function shiftItem(shift) {
  const item = el("li", "shift");
  item.dataset.shiftId = shift.id;
  item.title = `Shift ${shift.id} · ${shift.profession} · ${shift.facility.name} (facility ${shift.facility.id})`;
  item.append(el("time", "hours", `${shift.start.slice(11, 16)}–${shift.end.slice(11, 16)}`));
  item.append(el("span", "facility", shift.facility.name));
  return item;
}

function render() {
  const range = period();
  const byDay = new Map();
  for (const shift of state.shifts) {
    const day = shift.start.slice(0, 10);
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day).push(shift);
  }
  const loadedThrough = state.cursor && state.shifts.length
    ? state.shifts[state.shifts.length - 1].start.slice(0, 10) : null;

  $("period").textContent = periodTitle(range);
  $("view-month").setAttribute("aria-pressed", String(state.view === "month"));
  $("view-week").setAttribute("aria-pressed", String(state.view === "week"));

  const grid = $("grid");
  grid.className = `grid ${state.view}`;
  grid.replaceChildren(...WEEKDAYS.map((name) => el("div", "weekday", name)));
  const first = mondayOf(range.start);
  const last = state.view === "month" ? addDays(mondayOf(addDays(range.end, -1)), 7) : range.end;
  for (let day = first; day < last; day = addDays(day, 1)) {
    const key = isoDate(day);
    const shifts = byDay.get(key) || [];
    const outside = day < range.start || day >= range.end;
    const pending = loadedThrough !== null && key > loadedThrough && !outside;
    const cell = el("div", "day");
    cell.dataset.date = key;
    if (outside) cell.classList.add("outside");
    if (!shifts.length) cell.classList.add("empty");
    if (pending) cell.classList.add("pending");
    const head = el("div", "date");
    head.append(el("span", "dow", WEEKDAYS[(day.getUTCDay() + 6) % 7] + " "), `${day.getUTCDate()}`);
    if (state.view === "month" && day.getUTCDate() === 1) head.append(` ${MONTHS[day.getUTCMonth()].slice(0, 3)}`);
    cell.append(head);
    if (!outside) {
      const shown = state.view === "month" ? shifts.slice(0, PER_DAY_IN_MONTH) : shifts;
      if (shown.length) {
        const list = el("ul", "shifts");
        list.append(...shown.map(shiftItem));
        cell.append(list);
      }
      if (shifts.length > shown.length) {
        const more = el("button", "overflow", `+${shifts.length - shown.length} more`);
        more.type = "button";
        more.addEventListener("click", () => {
          state.anchor = day;
          state.view = "week";
          loadPeriod();
        });
        cell.append(more);
      }
      if (pending) cell.append(el("p", "note", "not loaded yet"));
    }
    grid.append(cell);
  }

  const count = state.shifts.length;
  $("loaded").textContent = count === 0
    ? "No available shifts in this period."
    : `${count} shift${count === 1 ? "" : "s"} loaded` + (state.cursor ? ` (through ${loadedThrough}).` : ".");
  $("more").hidden = !state.cursor;
  $("calendar").hidden = false;
  setStatus(`Available shifts for worker ${state.worker}.`);
}

// --- wiring ---------------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("lookup").addEventListener("submit", (event) => {
    event.preventDefault();
    lookup($("worker").value.trim(), state.view, null);
  });
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(1));
  $("view-month").addEventListener("click", () => switchView("month"));
  $("view-week").addEventListener("click", () => switchView("week"));
  $("more").addEventListener("click", () => loadMore());

  const params = new URLSearchParams(location.search);
  if (params.get("worker")) {
    $("worker").value = params.get("worker");
    lookup(params.get("worker"), params.get("view"), params.get("date"));
  }
});
