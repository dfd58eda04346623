// Jobs: the live table (filterable by dataset and status) and one job's page.

import { getJSON } from "./api.js";
import { badge, esc, hashQuery, num, progressBar, seconds, setHashQuery, since, when } from "./dom.js";

function duration(job) {
  if (job.duration_s !== null && job.duration_s !== undefined) return seconds(job.duration_s);
  const running = since(job.started_at || job.received_at);
  return running === null ? "" : `${seconds(running)} …`;
}

function fillSelect(select, values) {
  const chosen = select.value;
  const options = ["", ...values].map((v) => `<option value="${esc(v)}">${v ? esc(v) : "all"}</option>`).join("");
  if (select.dataset.options !== options) {
    select.innerHTML = options;
    select.dataset.options = options;
  }
  select.value = chosen;
}

export function listPage(el) {
  const query = hashQuery();
  el.innerHTML = `<section class="card">
    <div class="toolbar">
      <h1>Jobs</h1>
      <label>dataset <select id="f-dataset"><option value="${esc(query.get("dataset") || "")}"></option></select></label>
      <label>status <select id="f-status"><option value="${esc(query.get("status") || "")}"></option></select></label>
      <span id="jobs-count" class="muted"></span>
    </div>
    <table class="grid" id="jobs-table">
      <thead><tr><th>file</th><th>dataset</th><th>status</th><th class="num">valid</th><th class="num">rejected</th>
        <th>pages</th><th class="num">duration</th><th>received</th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="jobs-empty" class="empty" hidden>No jobs yet: drop a CSV file into the ingest bucket under &lt;dataset&gt;/.</div>
  </section>`;
  const dataset = el.querySelector("#f-dataset");
  const status = el.querySelector("#f-status");
  dataset.value = query.get("dataset") || "";
  status.value = query.get("status") || "";
  let latest = 0; // a poll answered after a filter change must not overwrite the filtered table
  const view = {
    async refresh() {
      const mine = ++latest;
      const params = new URLSearchParams({ dataset: dataset.value, status: status.value });
      const data = await getJSON(`/api/jobs?${params}`);
      if (mine !== latest) return;
      fillSelect(dataset, data.datasets);
      fillSelect(status, data.statuses);
      el.querySelector("#jobs-count").textContent = `${data.jobs.length} of ${data.total} jobs`;
      el.querySelector("#jobs-empty").hidden = data.total > 0;
      el.querySelector("#jobs-table tbody").innerHTML = data.jobs.map(row).join("");
    },
  };
  for (const select of [dataset, status]) {
    select.addEventListener("change", () => {
      setHashQuery({ dataset: dataset.value, status: status.value });
      view.refresh().catch(() => {}); // the polling loop reports errors
    });
  }
  return view;
}

function row(job) {
  return `<tr data-job="${esc(job.job_id)}" data-key="${esc(job.key)}" data-status="${esc(job.status)}">
    <td><a href="#/jobs/${encodeURIComponent(job.job_id)}">${esc(job.file)}</a>
      <div class="sub mono">${esc(job.job_id.slice(0, 16))}</div></td>
    <td>${esc(job.dataset)}</td>
    <td>${badge(job.status)}${job.cause ? `<div class="sub" title="${esc(job.cause)}">${esc(job.error || "")}</div>` : ""}</td>
    <td class="num" data-field="rows_valid">${num(job.rows_valid)}</td>
    <td class="num" data-field="rows_rejected">${num(job.rows_rejected)}</td>
    <td>${progressBar(job.progress, job.status)}</td>
    <td class="num">${duration(job)}</td>
    <td class="sub">${when(job.received_at)}</td>
  </tr>`;
}

function stat(label, value, field) {
  return `<div class="stat"><span class="sub">${esc(label)}</span><b data-field="${esc(field)}">${value}</b></div>`;
}

export function jobPage(el, jobId) {
  el.innerHTML = `<div id="job"><p class="muted">loading job…</p></div>`;
  return {
    interval: 2000,
    async refresh() {
      const data = await getJSON(`/api/jobs/${encodeURIComponent(jobId)}`);
      el.querySelector("#job").innerHTML = render(data, el.querySelector("#outputs")?.open);
    },
  };
}

function render({ job, progress, pages, outputs, rejects, executions }, outputsOpen) {
  const source = job.bucket ? `s3://${job.bucket}/${job.key}` : job.file || job.key;
  const failure = job.status === "FAILED" ? `<div class="errorbox"><b>${esc(job.error)}</b>: ${esc(job.cause)}</div>` : "";
  return `<section class="card">
    <div class="toolbar"><h1>${esc(job.file_name)}</h1>${badge(job.status)}<span class="muted">${esc(job.dataset)}
      · ${esc(job.mode || "")}</span></div>
    ${failure}
    <dl class="kv"><dt>job</dt><dd class="mono">${esc(job.job_id)}</dd><dt>file</dt><dd class="mono">${esc(source)}</dd>
      <dt>received</dt><dd>${when(job.received_at)}</dd><dt>finished</dt><dd>${when(job.finished_at)}</dd></dl>
  </section>
  <div class="stats">
    ${stat("rows in", num(job.rows_input), "rows_input")}
    ${stat("valid", num(job.rows_valid), "rows_valid")}
    ${stat("rejected", num(job.rows_rejected), "rows_rejected")}
    ${stat("duration", job.duration_s !== undefined ? seconds(job.duration_s) : "…", "duration")}
    <div class="stat" style="min-width:240px"><span class="sub">pages</span>${progressBar(progress, job.status)}</div>
  </div>
  <h2>Executions</h2>${executionsTable(executions)}
  <h2>Rejects ${rejects.length ? `(first ${rejects.length})` : ""}</h2>${rejectsTable(rejects)}
  <h2>Pages (${pages.length})</h2>${pagesTable(pages)}
  <details id="outputs" ${outputsOpen ? "open" : ""}><summary><h2 style="display:inline-block">Outputs
    (${num(Object.keys(outputs).length)} objects, ${num(Object.values(outputs).reduce((a, b) => a + b, 0))} rows)</h2>
    </summary>${outputsTable(outputs)}</details>`;
}

function executionsTable(executions) {
  if (!executions.length) return `<p class="empty">No state machine execution (processed inline or not started).</p>`;
  const rows = executions.map((e) => `<tr><td><a href="#/executions/${encodeURIComponent(e.name)}" data-testid="execution-link">
    ${esc(e.name)}</a></td><td>${badge(e.status)}</td><td>${when(e.start)}</td>
    <td class="num">${e.duration_s === null ? `${seconds(since(e.start))} …` : seconds(e.duration_s)}</td></tr>`);
  return `<table class="grid"><thead><tr><th>execution</th><th>status</th><th>started</th><th class="num">duration</th></tr>
    </thead><tbody>${rows.join("")}</tbody></table>`;
}

function outputsTable(outputs) {
  const keys = Object.keys(outputs);
  if (!keys.length) return `<p class="empty">No output objects yet.</p>`;
  const rows = keys.slice(0, 200).map((k) => `<tr><td class="mono">${esc(k)}</td><td class="num">${num(outputs[k])}</td></tr>`);
  const more = keys.length > 200 ? `<p class="muted">and ${keys.length - 200} more</p>` : "";
  return `<table class="grid"><thead><tr><th>object (results bucket)</th><th class="num">rows</th></tr></thead>
    <tbody>${rows.join("")}</tbody></table>${more}`;
}

function rejectsTable(rejects) {
  if (!rejects.length) return `<p class="empty">No rejected rows.</p>`;
  const rows = rejects.map((r) => `<tr data-testid="reject"><td class="num">${esc(r.page)}</td><td class="num">${esc(r.line)}</td>
    <td>${esc(r.reasons)}</td><td class="mono">${esc(r.record)}</td></tr>`);
  return `<table class="grid"><thead><tr><th class="num">page</th><th class="num">line</th><th>reasons</th><th>record</th></tr>
    </thead><tbody>${rows.join("")}</tbody></table>`;
}

function pagesTable(pages) {
  if (!pages.length) return `<p class="empty">No page processed yet.</p>`;
  const rows = pages.slice(0, 500).map((p) => `<tr><td class="num">${esc(p.page)}</td><td>${badge(p.status)}</td>
    <td class="num">${num(p.first_line)}</td><td class="num">${num(p.rows_input)}</td><td class="num">${num(p.rows_valid)}</td>
    <td class="num">${num(p.rows_rejected)}</td><td class="num">${num(p.attempts)}</td>
    <td class="sub">${esc(p.last_error || "")}</td></tr>`);
  const more = pages.length > 500 ? `<p class="muted">and ${pages.length - 500} more</p>` : "";
  return `<table class="grid"><thead><tr><th class="num">page</th><th>status</th><th class="num">first line</th>
    <th class="num">rows in</th><th class="num">valid</th><th class="num">rejected</th><th class="num">attempts</th>
    <th>last error</th></tr></thead><tbody>${rows.join("")}</tbody></table>${more}`;
}

