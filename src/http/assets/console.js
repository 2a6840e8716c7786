// commentguard moderator console: decisions without reloads, keyboard shortcuts
// (j/k move, a approve, s spam, t trash), bulk actions and live queue updates.
// Served from the binary; no inline script anywhere, so the CSP can forbid it.
"use strict";

(function () {
  const list = document.getElementById("comments");
  const csrf = document.querySelector('meta[name="csrf-token"]');

  function rows() {
    return Array.from(document.querySelectorAll("article.comment"));
  }

  function current() {
    return document.querySelector("article.comment.current");
  }

  function select(row) {
    const was = current();
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

  function showEmpty() {
    if (list && rows().length === 0 && !list.querySelector("p.empty")) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Nothing here.";
      list.appendChild(p);
    }
  }

  // A comment that left this tab: drop it, keeping the selection on a neighbour.
  function removeRow(id) {
    const row = document.querySelector('article.comment[data-comment-id="' + CSS.escape(id) + '"]');
    if (!row) return;
    if (row.classList.contains("current")) {
      const all = rows();
      const at = all.indexOf(row);
      select(all[at + 1] || all[at - 1] || null);
    }
    row.remove();
    showEmpty();
  }

  function flash(message) {
    let bar = document.getElementById("flash");
    if (!bar) {
      bar = document.createElement("p");
      bar.id = "flash";
      bar.setAttribute("role", "status");
      document.querySelector("main").prepend(bar);
    }
    bar.textContent = message;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "x-requested-with": "fetch", "content-type": "application/x-www-form-urlencoded" },
      body: body,
      credentials: "same-origin",
    });
    let answer = {};
    try { answer = await response.json(); } catch (_) { answer = { error: "Unexpected answer" }; }
    return { ok: response.ok, status: response.status, answer: answer };
  }

  const tab = list ? list.dataset.status : null;

  function applied(id, status) {
    if (status !== tab) removeRow(id);
  }

  async function decide(form, action) {
    const body = new URLSearchParams(new FormData(form));
    body.set("action", action);
    const { ok, answer } = await post("/moderate", body);
    if (ok) {
      applied(answer.comment_id, answer.status);
      flash("Comment " + answer.status.toLowerCase() + ".");
    } else {
      flash(answer.error || "The decision failed.");
    }
  }

  async function bulk(form, action) {
    const body = new URLSearchParams(new FormData(form));
    if (action) body.set("action", action);
    if (form.id === "bulk") {
      body.delete("comment_id");
      document.querySelectorAll('input.select[form="bulk"]:checked').forEach((box) => {
        body.append("comment_id", box.value);
      });
    }
    if (!body.has("comment_id")) {
      flash("Select comments first.");
      return;
    }
    const { answer } = await post("/bulk", body);
    (answer.done || []).forEach((d) => applied(d.comment_id, d.status));
    const failed = (answer.failed || []).length;
    flash((answer.done || []).length + " done" + (failed ? ", " + failed + " failed" : "") + ".");
    if (answer.error) flash(answer.error);
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    if (form.matches("form.decide")) {
      event.preventDefault();
      decide(form, button ? button.value : "");
    } else if (form.matches("form.bulk")) {
      event.preventDefault();
      bulk(form, button && button.name === "action" ? button.value : null);
    }
  });

  document.addEventListener("click", (event) => {
    const row = event.target.closest("article.comment");
    if (row) select(row);
  });

  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      document.querySelectorAll('input.select[form="bulk"]').forEach((box) => { box.checked = all.checked; });
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    const shortcuts = { a: "approve", s: "spam", t: "trash" };
    if (event.key === "j") {
      move(1);
    } else if (event.key === "k") {
      move(-1);
    } else if (shortcuts[event.key]) {
      const row = current();
      const button = row && row.querySelector('button[data-action="' + shortcuts[event.key] + '"]');
      if (button) button.click();
    } else {
      return;
    }
    event.preventDefault();
  });

  // Live: comments held after the page loaded appear; decisions made elsewhere update it.
  if (list && csrf && window.EventSource) {
    const query = new URLSearchParams({ status: tab });
    if (list.dataset.post) query.set("post", list.dataset.post);
    if (!document.querySelector("form.campaign-actions") && !document.querySelector("a.older")) {
      const source = new EventSource("/events?" + query.toString());
      // The server answers once it is subscribed: from then on nothing held is missed.
      source.addEventListener("open", () => { list.dataset.live = "open"; });
      source.addEventListener("error", () => { delete list.dataset.live; });
      source.addEventListener("comment", (event) => {
        const change = JSON.parse(event.data);
        if (!change.html) {
          removeRow(change.comment_id);
          return;
        }
        const template = document.createElement("template");
        template.innerHTML = change.html; // escaped by the server, same markup as the page
        const fresh = template.content.firstElementChild;
        const old = document.querySelector('article.comment[data-comment-id="' + CSS.escape(change.comment_id) + '"]');
        if (old) {
          old.replaceWith(fresh);
        } else {
          const empty = list.querySelector("p.empty");
          if (empty) empty.remove();
          list.prepend(fresh);
        }
      });
      source.addEventListener("resync", () => {
        const note = document.querySelector("p.live-note");
        if (note) note.hidden = false;
      });
    }
  }

  if (rows().length > 0) select(rows()[0]);
})();
