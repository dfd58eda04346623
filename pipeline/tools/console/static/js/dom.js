// Small helpers shared by the views: escaping, formatting, badges and progress bars.

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export function num(value) {
  return value === null || value === undefined || value === "" ? "" : Number(value).toLocaleString("en-US");
}

export function seconds(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  const s = Number(value);
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function since(iso) {
  return iso ? (Date.now() - Date.parse(iso)) / 1000 : null;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? esc(iso) : d.toLocaleString("en-GB", { hour12: false });
}

export function badge(status) {
  const s = String(status ?? "?");
  return `<span class="badge s-${esc(s.toLowerCase())}" data-status="${esc(s)}">${esc(s.replace("_", " "))}</span>`;
}

export function progressBar(progress, status) {
  const p = progress ?? { done: 0, total: null, percent: 0 };
  const kind = status === "COMPLETE" ? "complete" : status === "FAILED" ? "failed" : "";
  const label = `${num(p.done)}/${p.total === null ? "?" : num(p.total)} pages`;
  return `<div class="progress ${kind}" role="progressbar" data-testid="progress" aria-valuemin="0" aria-valuemax="100"
    aria-valuenow="${p.percent}" title="${p.percent}%"><div class="bar" style="width:${p.percent}%"></div>
    <span>${label} · ${p.percent}%</span></div>`;
}

export function json(value) {
  return `<pre>${esc(typeof value === "string" ? value : JSON.stringify(value, null, 2))}</pre>`;
}

export function fileName(key) {
  return String(key ?? "").split("/").pop();
}

export function hashQuery() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

export function setHashQuery(values) {
  const base = location.hash.split("?")[0] || "#/jobs";
  const query = new URLSearchParams(Object.entries(values).filter(([, v]) => v)).toString();
  history.replaceState(null, "", query ? `${base}?${query}` : base);
}
