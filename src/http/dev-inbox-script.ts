// The dev inbox pages' only script, served from /dev/inbox/assets/inbox.js so the pages' CSP can
// say `script-src 'self'` (no inline script anywhere). It shows times in the reader's own time
// zone and language, as "3 min ago" with the full local time on hover, and reloads the list
// when mail arrives or the inbox is cleared elsewhere. Plain ES2020 for any current browser.
export const INBOX_SCRIPT = String.raw`"use strict";
(() => {
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const steps = [["second", 60], ["minute", 60], ["hour", 24], ["day", 7], ["week", 4.35], ["month", 12], ["year", Infinity]];
  function relative(date) {
    let value = (date.getTime() - Date.now()) / 1000;
    for (const [unit, size] of steps) {
      if (Math.abs(value) < size) return rtf.format(Math.round(value), unit);
      value /= size;
    }
    return date.toLocaleString();
  }
  function renderTimes() {
    for (const el of document.querySelectorAll("time[datetime]")) {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) continue;
      el.title = date.toLocaleString();
      el.textContent = el.dataset.full === "true" ? date.toLocaleString() + " (" + relative(date) + ")" : relative(date);
    }
  }
  renderTimes();
  setInterval(renderTimes, 15000);

  const list = document.querySelector("[data-inbox-latest]");
  if (!list) return;
  const latest = list.dataset.inboxLatest;
  const count = Number(list.dataset.inboxCount);
  const url = "/dev/inbox?format=json&q=" + encodeURIComponent(list.dataset.inboxQuery || "");
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
      if (!res.ok) return;
      const { messages } = await res.json();
      const newest = messages.length ? messages[0].id : "";
      if (newest !== latest || messages.length !== count) location.reload();
    } catch {
      // The server is restarting; try again on the next tick.
    }
  }, 2000);
})();
`;
