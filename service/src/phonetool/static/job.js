// One job's page: live progress from the job's Server-Sent Events (polling where the
// browser has no EventSource), then its counts, charts, downloads, mail and log.
"use strict";

const T = JSON.parse(document.getElementById("strings").textContent);

const $ = (selector) => document.querySelector(selector);
const jobId = document.body.dataset.job;
const base = `/api/jobs/${encodeURIComponent(jobId)}`;
const FINAL = new Set(["succeeded", "failed", "cancelled", "expired"]);
const CHARTS = ["numbers", "invalid_reasons", "provinces", "carriers", "types"];
const COUNTS = ["rows_in", "rows_out", "valid", "invalid", "masked", "duplicates"];
const samples = []; // [time, rows done], for the rate and the time left
let shownFinal = false;

function text(tag, value, className) {
  const element = document.createElement(tag);
  element.textContent = value ?? "";
  if (className) element.className = className;
  return element;
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function showProgress(job) {
  const progress = job.progress || {};
  const total = progress.total || 0;
  const done = job.state === "succeeded" ? total : progress.done || 0;
  $("#bar").max = total || 1;
  $("#bar").value = done;
  const percent = total ? Math.floor((100 * done) / total) : job.state === "succeeded" ? 100 : 0;
  $("#percent").textContent = `${percent}%`;
  const now = performance.now() / 1000;
  if (!samples.length || samples[samples.length - 1][1] !== done) samples.push([now, done]);
  const [t0, d0] = samples[0];
  const rate = now > t0 && done > d0 ? (done - d0) / (now - t0) : 0;
  const parts = [`${done.toLocaleString("en")} / ${total ? total.toLocaleString("en") : "?"} ${T.rows}`];
  if (rate && !FINAL.has(job.state)) {
    parts.push(`${Math.round(rate).toLocaleString("en")} ${T.rows_per_second}`);
    if (total) parts.push(`${T.left} ${duration((total - done) / rate)}`);
  }
  $("#rows").textContent = parts.join(" · ");
}

function showJob(job) {
  $("#job").hidden = false;
  $("#file-name").textContent = job.file.name;
  $("#state").textContent = T[job.state] || job.state;
  $("#state").className = `state state-${job.state}`;
  showProgress(job);
  $("#cancel").hidden = FINAL.has(job.state);
  $("#job-error").textContent = job.error || "";
  if (job.mail) {
    const error = job.mail.error ? ` (${job.mail.error})` : "";
    $("#mail").textContent = `${T.mail_to} ${job.mail.to}: ${job.mail.state || "-"}${error}`;
  }
  if (FINAL.has(job.state) && !shownFinal) {
    shownFinal = true;
    showResult(job);
  }
}

function showResult(job) {
  const summary = job.summary;
  // A job that ended before reading a row (a file refused) has no progress and no result.
  $("#progress-panel").hidden = job.state !== "succeeded" && !(job.progress && job.progress.total);
  $("#done").hidden = !summary && !job.results;
  if (summary) {
    $("#counts").replaceChildren(
      ...COUNTS.flatMap((key) => [text("dt", T[key]), text("dd", (summary[key] ?? 0).toLocaleString("en"), `count-${key}`)]),
    );
    $("#charts").replaceChildren(
      ...CHARTS.map((name) => {
        const image = document.createElement("img");
        image.src = `${base}/charts/${name}.svg`;
        image.alt = T[`chart_${name}`] || name;
        image.className = `chart chart-${name}`;
        return image;
      }),
    );
  }
  const links = Object.entries(job.results || {}).flatMap(([format, url]) => {
    const link = text("a", `${T.download} ${format.toUpperCase()}`, `download-${format}`);
    link.href = url;
    return [link, " "];
  });
  $("#downloads").replaceChildren(...links);
  loadLog();
}

async function loadLog() {
  const response = await fetch(`/api/operation-logs?per_page=50&job_id=${encodeURIComponent(jobId)}`);
  if (!response.ok) return;
  const log = await response.json();
  $("#oplog").replaceChildren(
    ...log.entries.map((e) => text("li", `${e.operation_time.slice(0, 19).replace("T", " ")}  ${e.operation_content}`)),
  );
}

let pollEvery = 700; // ms; longer when the server had no stream to spare

async function poll() {
  const response = await fetch(base);
  if (response.status === 404 || response.status === 401) return missing();
  const job = await response.json();
  showJob(job);
  const mailPending = job.mail && ["pending", "retrying"].includes(job.mail.state);
  if (!FINAL.has(job.state) || mailPending) setTimeout(poll, pollEvery);
  else loadLog();
}

function missing() {
  $("#job").hidden = true;
  $("#missing").hidden = false;
}

function follow() {
  if (!("EventSource" in window)) {
    $("#transport").textContent = T.polling;
    $("#transport").dataset.transport = "polling";
    return poll();
  }
  $("#transport").dataset.transport = "sse";
  const events = new EventSource(`${base}/events`);
  events.addEventListener("status", (event) => showJob(JSON.parse(event.data)));
  events.addEventListener("end", () => {
    events.close();
    loadLog();
  });
  events.onerror = async () => {
    // Closed for good: the job is not ours, or the server has no stream to spare
    // (429/503): follow it by asking every few seconds instead.
    if (events.readyState === EventSource.CLOSED) {
      const response = await fetch(base);
      if (!response.ok) return missing();
      $("#transport").textContent = T.polling;
      $("#transport").dataset.transport = "polling";
      pollEvery = 3000;
      poll();
    }
  };
}

$("#cancel").addEventListener("click", async () => {
  $("#cancel").disabled = true;
  await fetch(`${base}/cancel`, { method: "POST" });
});

loadLog();
follow();
