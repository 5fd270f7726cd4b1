// The member's page: every view below is drawn from the JSON API, with the session cookie.
"use strict";

const T = JSON.parse(document.getElementById("strings").textContent);

const $ = (selector) => document.querySelector(selector);
const FINAL = new Set(["succeeded", "failed", "cancelled", "expired"]);
let polling = null;

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

function text(tag, value, className) {
  const element = document.createElement(tag);
  element.textContent = value ?? "";
  if (className) element.className = className;
  return element;
}

async function showSignedIn() {
  const me = await api("/api/session");
  const signedIn = me.ok;
  $("#sign-in-panel").hidden = signedIn;
  $("#app").hidden = !signedIn;
  $("#who").hidden = !signedIn;
  if (signedIn) {
    $("#who-name").textContent = `${me.body.name} <${me.body.email}>`;
    await refresh();
  }
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.job = job.job_id;
  const name = document.createElement("td");
  const open = text("a", job.file.name, "job-link");
  open.href = `/jobs/${encodeURIComponent(job.job_id)}`;
  name.append(open);
  row.append(name);
  const state = text("td", T[job.state] || job.state, `state state-${job.state}`);
  if (job.error) state.title = job.error;
  row.append(state);
  const cell = document.createElement("td");
  const bar = document.createElement("progress");
  const progress = job.progress || { done: 0, total: 0 };
  bar.max = progress.total || 1;
  bar.value = job.state === "succeeded" ? bar.max : progress.done || 0;
  cell.append(bar, text("span", ` ${progress.done || 0}/${progress.total || "?"}`));
  if (job.error) cell.append(text("div", job.error, "error"));
  row.append(cell);
  const links = document.createElement("td");
  for (const [format, url] of Object.entries(job.results || {})) {
    const link = text("a", format.toUpperCase());
    link.href = url;
    link.className = `download-${format}`;
    links.append(link, " ");
  }
  if (job.mail) links.append(text("div", `${T.mail}: ${job.mail.state || "-"}`));
  if (!FINAL.has(job.state)) {
    const cancel = text("button", T.cancel, "cancel");
    cancel.type = "button";
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      await api(`/api/jobs/${job.job_id}/cancel`, { method: "POST" });
      await refresh();
    });
    links.append(cancel);
  }
  row.append(links);
  return row;
}

async function refresh() {
  const [jobs, log] = await Promise.all([api("/api/jobs"), api("/api/operation-logs?per_page=20")]);
  if (!jobs.ok) return showSignedIn();
  $("#jobs tbody").replaceChildren(...jobs.body.jobs.map(jobRow));
  $("#oplog").replaceChildren(
    ...log.body.entries.map((e) => text("li", `${e.operation_time.slice(0, 19).replace("T", " ")}  ${e.operation_content}`)),
  );
  const busy = jobs.body.jobs.some((job) => !FINAL.has(job.state));
  clearTimeout(polling);
  if (busy) polling = setTimeout(refresh, 700);
}

$("#sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const result = await api("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: form.get("email"), password: form.get("password") }),
  });
  $("#sign-in-error").textContent = result.ok ? "" : result.body.message;
  if (result.ok) await showSignedIn();
});

$("#sign-out").addEventListener("click", async () => {
  await api("/api/session", { method: "DELETE" });
  await showSignedIn();
});

$("#upload").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  for (const [key, value] of [...form.entries()]) {
    if (value === "") form.delete(key);
  }
  const file = form.get("file");
  if (T.max_upload_bytes && file && file.size > T.max_upload_bytes) {
    $("#upload-error").textContent = T.file_too_large; // said before sending it
    return;
  }
  let result;
  try {
    result = await api("/api/uploads", { method: "POST", body: form });
  } catch {
    result = { ok: false, body: null }; // the connection failed or was closed
  }
  $("#upload-error").textContent = result.ok ? "" : result.body?.message || T.no_answer;
  if (result.ok) {
    event.target.reset();
    await refresh();
  }
});

showSignedIn();
