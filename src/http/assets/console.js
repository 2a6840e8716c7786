// commentguard moderator console: decisions without reloads, keyboard shortcuts
// (j/k move, a approve, s spam, t trash, z undo, ? help), bulk actions, live queue updates.
// Served from the binary; no inline script anywhere, so the CSP can forbid it.
//
// Every decision names the comment it was aimed at (by id) and moves the selection at once,
// so keys typed faster than the server answers each act on the next comment; a comment being
// decided ignores further keys; a refused decision comes back on its comment with the reason.
"use strict";

(function () {
  const list = document.getElementById("comments");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  const tab = list ? list.dataset.status : null;
  // The queue tabs follow changes live; one comment's page and search results do not.
  const queuePage = list && !list.dataset.single && !list.dataset.search;
  const liveAllowed = queuePage && !document.querySelector("form.campaign-actions") &&
    !new URLSearchParams(location.search).has("toxic");
  const verbs = { APPROVED: "Approved", SPAM: "Marked spam", TRASH: "Trashed", PENDING: "Back to pending" };

  /** Rows a moderator can act on: shown and not being decided. */
  function rows() {
    return Array.from(document.querySelectorAll("article.comment")).filter((row) => !row.hidden);
  }

  function rowById(id) {
    return document.querySelector('article.comment[data-comment-id="' + CSS.escape(id) + '"]');
  }

  function current() {
    const row = document.querySelector("article.comment.current");
    return row && !row.hidden ? row : null;
  }

  function select(row) {
    const was = document.querySelector("article.comment.current");
    if (was) was.classList.remove("current");
    if (row) {
      row.classList.add("current");
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const all = rows();
    if (all.length === 0) return;
    const at = all.indexOf(current());
    const next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next]);
  }

  /** Moves the selection off `row` (to the next comment, else the previous). */
  function selectNeighbour(row) {
    if (!row.classList.contains("current")) return;
    const all = rows();
    const at = all.indexOf(row);
    select(all[at + 1] || all[at - 1] || null);
  }

  function showEmpty() {
    if (!list || rows().length > 0 || document.querySelector("a.older")) return;
    if (!list.querySelector("p.empty")) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Nothing here.";
      list.appendChild(p);
    }
  }

  /** A comment that left this tab: drop it, keeping the selection on a neighbour. */
  function removeRow(id) {
    const row = rowById(id);
    if (!row) return;
    selectNeighbour(row);
    row.remove();
    updateCampaignCount();
    refill();
    showEmpty();
  }

  function flash(message, kind, undo) {
    let bar = document.getElementById("flash");
    if (!bar) {
      bar = document.createElement("p");
      bar.id = "flash";
      bar.setAttribute("role", "status");
      document.querySelector("main").prepend(bar);
    }
    bar.className = kind || "ok";
    bar.textContent = message;
    if (undo) {
      const link = document.createElement("button");
      link.type = "button";
      link.className = "undo";
      link.textContent = "Undo";
      link.addEventListener("click", undoLast);
      bar.append(" ", link);
    }
  }

  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "x-requested-with": "fetch", "content-type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin",
      });
    } catch (_) {
      return { ok: false, status: 0, answer: { error: "The server could not be reached." } };
    }
    let answer = {};
    try { answer = await response.json(); } catch (_) { answer = { error: "Unexpected answer (" + response.status + ")" }; }
    return { ok: response.ok, status: response.status, answer: answer };
  }

  function rowError(row, message) {
    let p = row.querySelector("p.row-error");
    if (!p) {
      p = document.createElement("p");
      p.className = "row-error";
      p.setAttribute("role", "alert");
      row.querySelector("form.decide").before(p);
    }
    p.textContent = message;
  }

  // The last decision made here, for undo: the comment, the status it left, its row.
  let last = null;

  async function decide(row, action) {
    if (!row || row.dataset.busy) return;
    const form = row.querySelector("form.decide");
    const body = new URLSearchParams(new FormData(form));
    body.set("action", action);
    const from = row.dataset.status;
    row.dataset.busy = "1";
    selectNeighbour(row);
    row.hidden = true;
    refill();
    const { ok, answer } = await post("/moderate", body);
    delete row.dataset.busy;
    if (ok) {
      const error = row.querySelector("p.row-error");
      if (error) error.remove();
      last = { id: answer.comment_id, from: from, to: answer.status, row: row };
      if (list.dataset.single) {
        location.reload();
        return;
      }
      if (answer.status === tab) {
        row.hidden = false;
      } else {
        row.remove();
        updateCampaignCount();
      }
      flash((verbs[answer.status] || answer.status) + ": comment by " + answer.author + ".", "ok", true);
      showEmpty();
    } else {
      row.hidden = false;
      rowError(row, answer.error || "The decision failed.");
      flash(answer.error || "The decision failed.", "error");
    }
  }

  async function undoLast() {
    if (!last) {
      flash("Nothing to undo.", "error");
      return;
    }
    const undoing = last;
    last = null;
    const body = new URLSearchParams({
      csrf: csrf, comment_id: undoing.id, status: undoing.from, decided: undoing.to,
    });
    const { ok, answer } = await post("/undo", body);
    if (!ok) {
      flash(answer.error || "The undo failed.", "error");
      return;
    }
    flash("Undone: the comment by " + answer.author + " is " + answer.status.toLowerCase() + " again.", "ok");
    if (answer.status === tab && !rowById(undoing.id)) {
      const row = undoing.row;
      row.hidden = false;
      delete row.dataset.busy;
      row.dataset.status = answer.status;
      list.prepend(row);
      const empty = list.querySelector("p.empty");
      if (empty) empty.remove();
      select(row);
    }
  }

  // The next page, pulled in before this one runs out; keys typed while it loads wait for it.
  let refilling = null;
  const waitingKeys = [];

  function refill() {
    const older = document.querySelector("a.older");
    if (!older || refilling || rows().length >= 10) return;
    refilling = fetch(older.href, { credentials: "same-origin" })
      .then((response) => response.ok ? response.text() : Promise.reject(response.status))
      .then((html) => {
        const page = new DOMParser().parseFromString(html, "text/html");
        page.querySelectorAll("#comments article.comment").forEach((row) => {
          if (!rowById(row.dataset.commentId)) list.appendChild(document.adoptNode(row));
        });
        const next = page.querySelector("a.older");
        if (next) older.href = next.getAttribute("href"); else older.remove();
        refreshTimes();
      })
      .catch(() => flash("The next page could not be loaded; reload the page.", "error"))
      .finally(() => {
        refilling = null;
        if (!current() && rows().length > 0) select(rows()[0]);
        while (waitingKeys.length > 0 && current()) decide(current(), waitingKeys.shift());
        waitingKeys.length = 0;
        showEmpty();
        if (rows().length < 10 && document.querySelector("a.older")) refill();
      });
  }

  function updateCampaignCount() {
    const count = document.querySelector("form.campaign-actions .campaign-count");
    if (count) count.textContent = String(document.querySelectorAll("article.comment").length);
  }

  // Tab counts follow every change the live connection reports.
  function addToCount(status, change) {
    const count = document.querySelector('nav.tabs a[data-status="' + status + '"] .count');
    if (!count) return;
    const value = Math.max(0, (parseInt(count.dataset.count, 10) || 0) + change);
    count.dataset.count = String(value);
    count.textContent = String(value);
  }

  async function bulk(form, action) {
    const body = new URLSearchParams(new FormData(form));
    if (action) body.set("action", action);
    if (!body.get("action")) {
      flash("Choose a bulk action first.", "error");
      return;
    }
    if (form.id === "bulk") {
      body.delete("comment_id");
      document.querySelectorAll('input.select[form="bulk"]:checked').forEach((box) => {
        body.append("comment_id", box.value);
      });
    }
    if (!body.has("comment_id")) {
      flash("Select comments first.", "error");
      return;
    }
    const { answer } = await post("/bulk", body);
    (answer.done || []).forEach((d) => { if (d.status !== tab) removeRow(d.comment_id); });
    const failed = answer.failed || [];
    failed.forEach((f) => {
      const row = rowById(f.comment_id);
      if (row) rowError(row, f.error);
    });
    const reasons = Array.from(new Set(failed.map((f) => f.error))).join("; ");
    const message = (answer.done || []).length + " done" +
      (failed.length ? ", " + failed.length + " not done: " + reasons : "") + ".";
    flash(answer.error || message, failed.length || answer.error ? "error" : "ok");
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    if (form.matches("form.decide")) {
      event.preventDefault();
      decide(form.closest("article.comment"), button ? button.value : "");
    } else if (form.matches("form.bulk")) {
      event.preventDefault();
      bulk(form, button && button.name === "action" ? button.value : null);
    }
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("button.show-new")) {
      showNew();
      return;
    }
    const row = event.target.closest("article.comment");
    if (row && !row.hidden) select(row);
  });

  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll('input.select[form="bulk"]').forEach((box) => { box.checked = all.checked; });
    });
  }

  const help = document.getElementById("help");
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, dialog")) return;
    const shortcuts = { a: "approve", s: "spam", t: "trash" };
    if (event.key === "j") {
      move(1);
    } else if (event.key === "k") {
      move(-1);
    } else if (event.key === "z") {
      undoLast();
    } else if (event.key === "?" && help) {
      help.showModal();
    } else if (shortcuts[event.key]) {
      const row = current();
      const action = shortcuts[event.key];
      if (row && row.querySelector('button[data-action="' + action + '"]')) {
        decide(row, action);
      } else if (!row && refilling) {
        waitingKeys.push(action);
      }
    } else {
      return;
    }
    event.preventDefault();
  });

  // Comments held while the moderator is working down the page wait behind a "N new" bar
  // instead of moving the page under them.
  const fresh = new Map();
  const newBar = document.querySelector("p.new-bar");

  function atTop() {
    const all = rows();
    return window.scrollY < 40 && (all.length === 0 || all[0] === current() || !current());
  }

  function insert(row) {
    const empty = list.querySelector("p.empty");
    if (empty) empty.remove();
    list.prepend(row);
    if (!current()) select(row);
  }

  function showNew() {
    Array.from(fresh.values()).reverse().forEach(insert);
    fresh.clear();
    if (newBar) newBar.hidden = true;
    refreshTimes();
  }

  function arrived(row) {
    const id = row.dataset.commentId;
    if (list.dataset.order === "oldest") {
      // Oldest first, a new comment belongs at the end: shown once the last page is here
      // (until then the tab's count has it).
      if (!document.querySelector("a.older")) {
        const empty = list.querySelector("p.empty");
        if (empty) empty.remove();
        list.appendChild(row);
        if (!current()) select(row);
        refreshTimes();
      }
      return;
    }
    if (atTop() || !newBar) {
      insert(row);
      refreshTimes();
      return;
    }
    fresh.set(id, row);
    newBar.querySelector(".new-count").textContent = String(fresh.size);
    newBar.hidden = false;
  }

  function applyChange(change) {
    if (change.kind === "submitted") addToCount(change.status, 1);
    if (change.kind === "decided" && change.from) {
      addToCount(change.from, -1);
      addToCount(change.status, 1);
    }
    if (!change.html) {
      fresh.delete(change.comment_id);
      const row = rowById(change.comment_id);
      if (row && !row.dataset.busy) removeRow(change.comment_id);
      return;
    }
    const template = document.createElement("template");
    template.innerHTML = change.html; // escaped by the server, same markup as the page
    const row = template.content.firstElementChild;
    const old = rowById(change.comment_id);
    if (old && old.dataset.busy) return;
    if (old) {
      const wasCurrent = old.classList.contains("current");
      old.replaceWith(row);
      if (wasCurrent) select(row);
      refreshTimes();
    } else {
      arrived(row);
    }
  }

  if (queuePage && csrfMeta && window.EventSource) {
    const query = new URLSearchParams({ status: tab });
    if (list.dataset.post) query.set("post", list.dataset.post);
    const source = new EventSource("/events?" + query.toString());
    // The server answers once it is subscribed: from then on nothing held is missed.
    source.addEventListener("open", () => { list.dataset.live = "open"; });
    source.addEventListener("error", () => { delete list.dataset.live; });
    source.addEventListener("comment", (event) => {
      const change = JSON.parse(event.data);
      if (liveAllowed || !change.html) applyChange(change);
    });
    source.addEventListener("resync", () => {
      const note = document.querySelector("p.live-note");
      if (note) note.hidden = false;
    });
  }

  // Times in the moderator's own terms: "5 min ago", the exact local time on hover.
  function relative(ms) {
    const minutes = Math.round((Date.now() - ms) / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.round(minutes / 60);
    if (hours < 24) return hours + " h ago";
    const days = Math.round(hours / 24);
    if (days < 30) return days + (days === 1 ? " day ago" : " days ago");
    return new Date(ms).toLocaleDateString();
  }

  function refreshTimes() {
    document.querySelectorAll("time[datetime]").forEach((time) => {
      const ms = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(ms)) return;
      time.textContent = relative(ms);
      time.title = new Date(ms).toLocaleString();
    });
  }

  refreshTimes();
  setInterval(refreshTimes, 60000);
  if (rows().length > 0) select(rows()[0]);
})();
