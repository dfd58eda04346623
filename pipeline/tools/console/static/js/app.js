// The console shell: hash routes, one view at a time, each refreshed by polling its JSON endpoint.

import { getJSON } from "./api.js";
import * as executions from "./executions.js";
import * as health from "./health.js";
import * as jobs from "./jobs.js";
import * as query from "./query.js";

const ROUTES = [
  [/^\/jobs\/([^/]+)$/, jobs.jobPage, "jobs"],
  [/^\/jobs\/?$/, jobs.listPage, "jobs"],
  [/^\/executions\/([^/]+)$/, executions.executionPage, "executions"],
  [/^\/executions\/?$/, executions.listPage, "executions"],
  [/^\/query\/?$/, query.page, "query"],
  [/^\/health\/?$/, health.page, "health"],
];
const POLL_MS = 1500;
let generation = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showError(message) {
  const box = document.getElementById("error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function poll(mine, view) {
  while (mine === generation && view.refresh) {
    try {
      const more = await view.refresh();
      if (mine !== generation) return;
      showError("");
      document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
      if (more === false) return;
    } catch (error) {
      if (mine === generation) showError(error.message);
    }
    await sleep(view.interval || POLL_MS);
  }
}

function mount() {
  const path = (location.hash.replace(/^#/, "").split("?")[0] || "/jobs").replace(/\/+$/, "") || "/jobs";
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route) {
    location.hash = "#/jobs";
    return;
  }
  const [pattern, create, section] = route;
  generation += 1;
  showError("");
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === section);
  const el = document.getElementById("view");
  el.replaceChildren();
  const params = pattern.exec(path).slice(1).map(decodeURIComponent);
  const view = create(el, ...params) || {};
  window.__console.view = view;
  poll(generation, view);
}

async function start() {
  window.__console = {};
  window.addEventListener("hashchange", mount);
  mount();
  try {
    const info = await getJSON("/api/info");
    window.__console.info = info;
    document.getElementById("stage").textContent = `stage ${info.stage} · ${info.endpoint}`;
    const mode = document.getElementById("mode");
    mode.textContent = info.allow_writes ? "writes allowed" : "read-only";
    mode.classList.toggle("writes", info.allow_writes);
  } catch (error) {
    showError(error.message);
  }
}

start();
