// Query: one read-only SQL statement through the same Athena path as `pipeline query`; result as a table and as CSV.

import { postJSON } from "./api.js";
import { toCsv } from "./csv.js";
import { esc, num } from "./dom.js";

const DEFAULT_SQL = "SELECT dt, count(*) AS orders, round(sum(amount), 2) AS revenue\nFROM orders\nGROUP BY dt\nORDER BY dt DESC\nLIMIT 20";
const SHOWN_ROWS = 1000;

export function page(el) {
  el.innerHTML = `<section class="card"><div class="toolbar"><h1>Query</h1>
      <span class="muted">Athena SQL over the stage's Glue database (read-only statements; Ctrl+Enter runs)</span></div>
    <textarea id="sql" spellcheck="false" data-testid="sql"></textarea>
    <div class="toolbar" style="margin-top:8px">
      <button id="run" data-testid="run">Run</button>
      <button id="download" class="secondary" data-testid="download" disabled>Download CSV</button>
      <span id="query-status" class="muted" data-testid="query-status"></span></div>
    <div id="query-ran" class="muted" data-testid="query-ran"></div>
    <div id="query-error"></div>
    <div class="result-wrap"><table class="grid" id="result" data-testid="result"></table></div></section>`;
  const sql = el.querySelector("#sql");
  const run = el.querySelector("#run");
  const download = el.querySelector("#download");
  const status = el.querySelector("#query-status");
  const ran = el.querySelector("#query-ran");
  sql.value = sessionStorage.getItem("console.sql") || DEFAULT_SQL;
  let result = null;

  async function execute() {
    sessionStorage.setItem("console.sql", sql.value);
    run.disabled = true;
    download.disabled = true;
    status.textContent = "running…";
    ran.textContent = "";
    el.querySelector("#query-error").innerHTML = "";
    el.querySelector("#result").innerHTML = "";
    try {
      result = await postJSON("/api/query", { sql: sql.value });
      const head = `<thead><tr>${result.columns.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>`;
      const rows = result.rows
        .slice(0, SHOWN_ROWS)
        .map((r) => `<tr>${r.map((v) => `<td>${v === null ? '<span class="muted">null</span>' : esc(v)}</td>`).join("")}</tr>`);
      el.querySelector("#result").innerHTML = `${head}<tbody>${rows.join("")}</tbody>`;
      const shown = result.rows.length > SHOWN_ROWS ? ` (first ${num(SHOWN_ROWS)} shown)` : "";
      const cut = result.truncated ? ` — truncated: the first ${num(result.row_cap)} rows only, more were not fetched` : "";
      status.textContent = `${num(result.row_count)} rows in ${result.seconds.toFixed(2)} s${shown}${cut} · ${result.query_id}`;
      status.dataset.truncated = String(result.truncated);
      ran.textContent = `ran: ${result.ran}`;
      download.disabled = false;
    } catch (error) {
      status.textContent = "failed";
      el.querySelector("#query-error").innerHTML = `<div class="errorbox">${esc(error.message)}</div>`;
    } finally {
      run.disabled = false;
    }
  }

  run.addEventListener("click", execute);
  sql.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) execute();
  });
  download.addEventListener("click", () => {
    const blob = new Blob([toCsv(result.columns, result.rows)], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `query-${result.query_id || "result"}.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
  return {};
}
