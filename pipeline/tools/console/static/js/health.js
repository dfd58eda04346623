// Health: dead-letter queue depth, failed jobs, and the redrive action (the only write, behind a confirmation).

import { getJSON, postJSON } from "./api.js";
import { esc, num, when } from "./dom.js";

export function page(el) {
  el.innerHTML = `<div class="stats" id="health-stats"></div>
    <div id="redrive-note"></div>
    <section class="card"><div class="toolbar"><h1>Failed jobs</h1><span id="failed-count" class="muted"></span></div>
      <div id="redrive-result"></div>
      <table class="grid" id="failed-table"><thead><tr><th>file</th><th>dataset</th><th>error</th><th>finished</th><th></th></tr>
      </thead><tbody></tbody></table><div id="failed-empty" class="empty" hidden>No failed jobs.</div></section>
    <dialog id="confirm" data-testid="confirm"><h2 style="margin-top:0">Redrive this job?</h2>
      <p id="confirm-text"></p><p class="muted">This runs <code>pipeline redrive</code> for the job, the one action of the console that writes.</p>
      <form method="dialog" class="toolbar"><button value="cancel" class="secondary">Cancel</button>
      <button value="ok" data-testid="confirm-redrive">Redrive</button></form></dialog>`;
  const dialog = el.querySelector("#confirm");
  let pending = null;

  el.querySelector("#failed-table").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-redrive]");
    if (!button || button.disabled) return;
    pending = { id: button.dataset.redrive, file: button.dataset.file };
    el.querySelector("#confirm-text").textContent = `${pending.file} (job ${pending.id})`;
    dialog.showModal();
  });
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "ok" || !pending) return;
    const out = el.querySelector("#redrive-result");
    try {
      const answer = await postJSON(`/api/jobs/${encodeURIComponent(pending.id)}/redrive`, { confirm: pending.id });
      out.innerHTML = `<p class="note">Redrive started for ${esc(pending.file)}: ${esc(JSON.stringify(answer.result))}</p>`;
    } catch (error) {
      out.innerHTML = `<div class="errorbox">Redrive failed: ${esc(error.message)}</div>`;
    }
    pending = null;
  });

  return {
    interval: 2000,
    async refresh() {
      const data = await getJSON("/api/health");
      const dlq = data.dead_letter_queue;
      el.querySelector("#health-stats").innerHTML = `
        <div class="stat"><span class="sub">dead-letter queue</span><b data-testid="dlq-depth">${dlq ? num(dlq.messages) : "n/a"}</b>
          <span class="sub">${dlq ? `${num(dlq.in_flight)} in flight` : "no queue output"}</span></div>
        <div class="stat"><span class="sub">failed jobs</span><b data-testid="failed-count">${num(data.failed_jobs.length)}</b></div>`;
      const redrive = data.redrive;
      el.querySelector("#redrive-note").innerHTML = redrive.note ? `<p class="note" data-testid="redrive-note">${esc(redrive.note)}</p>` : "";
      el.querySelector("#failed-count").textContent = `${data.failed_jobs.length} failed`;
      el.querySelector("#failed-empty").hidden = data.failed_jobs.length > 0;
      el.querySelector("#failed-table tbody").innerHTML = data.failed_jobs
        .map(
          (j) => `<tr data-job="${esc(j.job_id)}"><td><a href="#/jobs/${encodeURIComponent(j.job_id)}">${esc(j.file)}</a></td>
          <td>${esc(j.dataset)}</td><td><b>${esc(j.error)}</b><div class="sub">${esc(j.cause)}</div></td>
          <td class="sub">${when(j.finished_at)}</td>
          <td><button data-redrive="${esc(j.job_id)}" data-file="${esc(j.file)}" ${redrive.enabled ? "" : "disabled"}
            title="${esc(redrive.note || "redrive this job")}">Redrive…</button></td></tr>`,
        )
        .join("");
    },
  };
}
