// Executions: the list, and one execution as a coloured graph, a timeline of state durations and state details.

import { getJSON } from "./api.js";
import { badge, esc, json, num, seconds, since, when } from "./dom.js";
import { drawGraph } from "./graph.js";

const LEGEND = [
  ["succeeded", "succeeded"],
  ["failed", "failed"],
  ["caught", "failed, caught"],
  ["running", "running"],
  ["not_reached", "not reached"],
];

export function listPage(el) {
  el.innerHTML = `<section class="card"><div class="toolbar"><h1>Executions</h1><span id="exec-count" class="muted"></span></div>
    <table class="grid" id="executions-table"><thead><tr><th>execution</th><th>status</th><th>file</th><th>started</th>
    <th class="num">duration</th><th class="num">pages</th></tr></thead><tbody></tbody></table>
    <div id="exec-empty" class="empty" hidden>No executions yet: large files (over InlineMaxBytes) start one.</div></section>`;
  return {
    async refresh() {
      const items = await getJSON("/api/executions");
      el.querySelector("#exec-count").textContent = `${items.length} executions`;
      el.querySelector("#exec-empty").hidden = items.length > 0;
      el.querySelector("tbody").innerHTML = items
        .map(
          (e) => `<tr data-execution="${esc(e.name)}"><td><a href="#/executions/${encodeURIComponent(e.name)}">${esc(e.name)}</a></td>
        <td>${badge(e.status)}</td><td>${e.job_id ? `<a href="#/jobs/${encodeURIComponent(e.job_id)}">${esc(e.file.split("/").pop())}</a>` : ""}</td>
        <td class="sub">${when(e.start)}</td>
        <td class="num">${e.duration_s === null ? `${seconds(since(e.start))} …` : seconds(e.duration_s)}</td>
        <td class="num">${num(e.pages_done || 0)}/${e.pages_total === null || e.pages_total === undefined ? "?" : num(e.pages_total)}</td></tr>`,
        )
        .join("");
    },
  };
}

export function executionPage(el, name) {
  el.innerHTML = `<section class="card" id="exec-head"><p class="muted">loading execution…</p></section>
    <div class="exec-body">
      <div><div id="graph" class="graph" data-testid="graph"></div>
        <ul class="legend">${LEGEND.map(([k, label]) => `<li><i class="c-${k}"></i>${label}</li>`).join("")}</ul></div>
      <aside id="state-detail" class="detail" data-testid="state-detail"><p class="muted">Click a state in the graph or the
        timeline to see its input, output and error.</p></aside>
    </div>
    <h2>Timeline</h2><div id="timeline" class="timeline" data-testid="timeline"></div>`;
  let drawn = null;
  let selected = null;
  let data = null;
  const select = (state) => {
    selected = state;
    drawn?.select(state);
    renderDetail(el.querySelector("#state-detail"), data, state);
    for (const row of el.querySelectorAll(".tl-row")) row.classList.toggle("selected", row.dataset.state === state);
  };
  el.querySelector("#timeline").addEventListener("click", (event) => {
    const row = event.target.closest(".tl-row");
    if (row) select(row.dataset.select);
  });
  return {
    async refresh() {
      data = await getJSON(`/api/executions/${encodeURIComponent(name)}`);
      el.querySelector("#exec-head").innerHTML = header(data);
      if (!drawn) {
        drawn = drawGraph(el.querySelector("#graph"), data.graph, select);
        window.__console.graph = drawn.cy;
      } else {
        drawn.update(data.graph);
      }
      el.querySelector("#timeline").innerHTML = timeline(data, selected);
      if (selected) renderDetail(el.querySelector("#state-detail"), data, selected);
      el.dataset.status = data.status;
      return data.status === "RUNNING";
    },
  };
}

function plural(n, word) {
  return `${num(n)} ${word}${n === 1 ? "" : "s"}`;
}

function header(data) {
  const stop = data.stop ? Date.parse(data.stop) : Date.now();
  const error = data.error ? `<div class="errorbox"><b>${esc(data.error)}</b>: ${esc(data.cause || "")}</div>` : "";
  return `<div class="toolbar"><h1>${esc(data.name)}</h1><span data-testid="execution-status">${badge(data.status)}</span>
    <a href="#/jobs/${encodeURIComponent(data.job_id)}">job ${esc(data.job_id.slice(0, 16))}</a>
    <span class="muted">started ${when(data.start)} · ${seconds((stop - Date.parse(data.start)) / 1000)}${data.stop ? "" : " …"}
    · ${num(data.events)} history events</span></div>${error}`;
}

function timeline(data, selected) {
  const start = Date.parse(data.start);
  const end = data.stop ? Date.parse(data.stop) : Date.now();
  const span = Math.max(end - start, 1);
  return data.states
    .map((s) => {
      const target = s.iterations !== undefined ? s.first.state : s.state;
      const status = data.graph.nodes.find((n) => n.id === target)?.status || "not_reached";
      const entered = Date.parse(s.entered) - start;
      const length = s.duration_s !== undefined && s.duration_s !== null ? s.duration_s * 1000 : end - Date.parse(s.entered);
      const left = Math.max(0, Math.min(100, (entered / span) * 100));
      const width = Math.max(0.4, Math.min(100 - left, (length / span) * 100));
      const label = s.iterations !== undefined ? `${s.state} (${plural(s.iterations, "iteration")})` : s.state;
      return `<div class="tl-row ${selected === target ? "selected" : ""}" data-state="${esc(target)}" data-select="${esc(target)}"
        data-status="${esc(status)}" data-testid="timeline-row"><span class="tl-name" title="${esc(label)}">${esc(label)}</span>
        <div class="tl-track"><div class="tl-bar ${esc(status)}" style="left:${left}%;width:${width}%"></div></div>
        <span class="num sub">${seconds(length / 1000)}</span></div>`;
    })
    .join("");
}

function renderDetail(box, data, state) {
  const node = data.graph.nodes.find((n) => n.id === state);
  const run = data.graph.runs[state];
  if (!node) return;
  const head = `<h2 style="margin-top:0">${esc(node.label.split("\n")[0])}</h2>
    <p>${badge(node.status)} <span class="muted">${esc(node.type)}</span></p>
    ${node.comment ? `<p class="muted">${esc(node.comment)}</p>` : ""}`;
  if (!run) {
    box.innerHTML = `${head}<p class="empty">${["Start", "End"].includes(node.type) ? "" : "Not reached in this execution."}</p>`;
    return;
  }
  const facts = [
    run.iterations !== undefined ? `<dt>iterations</dt><dd>${num(run.iterations)}</dd>` : "",
    run.entered ? `<dt>entered</dt><dd>${when(run.entered)}</dd>` : "",
    run.duration_s !== undefined ? `<dt>duration</dt><dd>${seconds(run.duration_s)}</dd>` : "",
  ].join("");
  const note = run.iterations !== undefined ? `<p class="note">The paging loop ran ${num(run.iterations)} times; shown is
    ${run.entered ? "one run (the first or last) of this state" : "a summary: details of the runs in between are not kept"}.</p>` : "";
  const error = run.error || run.cause ? `<h3>Error</h3><div class="errorbox"><b>${esc(run.error || "")}</b>
    ${esc(run.cause || "")}</div>` : "";
  box.innerHTML = `${head}<dl class="kv">${facts}</dl>${note}${error}
    ${run.input !== undefined ? `<h3>Input</h3>${json(run.input)}` : ""}
    ${run.output !== undefined ? `<h3>Output</h3>${json(run.output)}` : ""}`;
}
