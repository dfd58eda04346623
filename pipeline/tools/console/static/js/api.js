// JSON over fetch; a failed request throws an Error carrying the server's message.

async function handle(response) {
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

export async function getJSON(url) {
  return handle(await fetch(url, { headers: { Accept: "application/json" } }));
}

export async function postJSON(url, body) {
  const options = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  return handle(await fetch(url, options));
}
