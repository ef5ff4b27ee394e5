// The dbfleet console: an MCP client over streamable HTTP, and three pages
// drawn from the tools' structured answers. Everything shown is set as text,
// never as markup.

const ESTATE_PERIOD_MS = 10_000;
const ACTIVITY_PERIOD_MS = 5_000;
const HISTORY_MS = 5 * 60_000; // the span of the latency line
const STATUS_ORDER = { unhealthy: 0, connecting: 1, idle: 2, disabled: 3, healthy: 4 };

class NeedToken extends Error {}

// --- MCP over streamable HTTP ---------------------------------------------

const mcp = {
  token: sessionStorage.getItem("dbfleet-token") ?? "",
  session: null,
  protocol: null,
  opening: null,
  lastId: 0,

  async post(message) {
    const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (this.session) headers["Mcp-Session-Id"] = this.session;
    if (this.protocol) headers["MCP-Protocol-Version"] = this.protocol;
    const response = await fetch("/mcp", { method: "POST", headers, body: JSON.stringify(message) });
    if (response.status === 401) throw new NeedToken();
    return response;
  },

  async open() {
    this.session = null;
    this.protocol = null;
    const id = ++this.lastId;
    const response = await this.post({
      jsonrpc: "2.0", id, method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "dbfleet-console", version: "1" } },
    });
    if (!response.ok) throw new Error(`the server refused the session: HTTP ${response.status} ${await response.text()}`);
    this.session = response.headers.get("Mcp-Session-Id");
    const answer = await reply(response, id);
    this.protocol = answer.result.protocolVersion;
    await this.post({ jsonrpc: "2.0", method: "notifications/initialized" });
  },

  ready() {
    this.opening ??= this.open().catch((error) => {
      this.opening = null;
      throw error;
    });
    return this.opening;
  },

  // A tool's structured answer, and whether it is an error.
  async call(name, args) {
    await this.ready();
    const id = ++this.lastId;
    const message = { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } };
    let response = await this.post(message);
    if (response.status === 404 && this.session) {
      // The session is gone (the server restarted): open another one.
      this.opening = null;
      await this.ready();
      response = await this.post(message);
    }
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status} ${await response.text()}`);
    const answer = await reply(response, id);
    if (answer.error) throw new Error(`${name}: ${answer.error.message}`);
    return { failed: answer.result.isError === true, data: answer.result.structuredContent ?? {} };
  },
};

// The JSON-RPC answer `id` from a JSON body or a stream of server-sent events.
async function reply(response, id) {
  const text = await response.text();
  if ((response.headers.get("Content-Type") ?? "").startsWith("application/json")) return JSON.parse(text);
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (!data) continue;
    const message = JSON.parse(data);
    if (message.id === id) return message;
  }
  throw new Error("the server's answer did not arrive");
}

// --- DOM helpers -------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(container, ...children) {
  container.replaceChildren(...children.flat().filter(Boolean));
}

function cellText(value) {
  if (value === null) return "NULL";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function problem(error) {
  if (error instanceof NeedToken) {
    askForToken();
    return el("p", { class: "error", role: "alert" }, "A bearer token is needed.");
  }
  return el("p", { class: "error", role: "alert" }, error.message);
}

// Why an environment refused or failed, in words.
function explain(error) {
  const advice = {
    read_only: "This environment is read-only: the statement was refused before it could change anything. "
      + "Writes need read_only = false for this environment in the configuration.",
    forbidden: "Your token does not reach this environment or tool.",
    connection: "The environment cannot be reached now; dbfleet keeps retrying in the background.",
    auth: "The database refused the environment's credentials.",
    timeout: "The statement ran past the environment's query_timeout_secs and was cancelled.",
  }[error.kind];
  return el("div", { class: `refusal kind-${error.kind}` },
    el("strong", {}, error.kind), " ", error.message,
    advice ? el("p", {}, advice) : null);
}

// --- Pages ---------------------------------------------------------------------

let environments = [];
let history = {};
let pageTimer = null;

// Statuses and latency history come from the server's sampler, which every
// open console shares.
async function refreshEstate() {
  const tiles = document.getElementById("tiles");
  const headers = mcp.token ? { Authorization: `Bearer ${mcp.token}` } : {};
  try {
    const response = await fetch("/ui/estate", { headers });
    if (response.status === 401) throw new NeedToken();
    if (!response.ok) throw new Error(`estate: HTTP ${response.status}`);
    const data = await response.json();
    environments = data.environments;
    history = data.history;
    const sorted = [...environments].sort((a, b) =>
      (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || a.name.localeCompare(b.name));
    show(tiles, sorted.map(tile));
    setConnection(`${environments.length} environments, updated ${new Date().toLocaleTimeString()}`);
    fillChoices();
  } catch (error) {
    show(tiles, el("li", {}, problem(error)));
  }
}

function tile(env) {
  const pool = env.pool ? `${env.pool.in_use} in use of ${env.pool.max} (${env.pool.size} open)` : "no pool";
  return el("li", { class: `tile status-${env.status}`, "data-environment": env.name },
    el("h3", {}, env.name, env.default ? el("span", { class: "badge" }, "default") : null),
    el("p", { class: "status" }, el("span", { class: "dot", "aria-hidden": "true" }), env.status),
    el("dl", {},
      el("dt", {}, "driver"), el("dd", {}, env.driver),
      el("dt", {}, "target"), el("dd", {}, env.target ?? "—"),
      el("dt", {}, "access"), el("dd", {}, env.read_only ? "read-only" : "read-write"),
      el("dt", {}, "latency"), el("dd", {}, env.latency_ms == null ? "—" : `${env.latency_ms.toFixed(1)} ms`),
      el("dt", {}, "pool"), el("dd", {}, pool)),
    sparkline(history[env.name] ?? [], env.name),
    env.last_error ? el("p", { class: "last-error" }, `${env.last_error.kind}: ${env.last_error.message}`) : null);
}

// `samples`: [unix ms, latency ms or null], oldest first, over the last
// HISTORY_MS.
function sparkline(samples, name) {
  const svg = "http://www.w3.org/2000/svg";
  const width = 160, height = 28;
  const chart = document.createElementNS(svg, "svg");
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.setAttribute("class", "sparkline");
  chart.setAttribute("role", "img");
  const known = samples.filter(([, latency]) => latency !== null);
  chart.setAttribute("aria-label", known.length
    ? `latency of ${name}: last ${known.at(-1)[1].toFixed(1)} ms, highest ${Math.max(...known.map(([, l]) => l)).toFixed(1)} ms`
    : `no latency measured for ${name} yet`);
  // The span of the line, five minutes, as a light baseline.
  const baseline = document.createElementNS(svg, "line");
  for (const [name, value] of [["x1", 0], ["y1", height - 1], ["x2", width], ["y2", height - 1], ["class", "baseline"]]) {
    baseline.setAttribute(name, value);
  }
  chart.append(baseline);
  if (known.length < 2) return chart;
  const top = Math.max(...known.map(([, l]) => l), 1);
  const end = samples.at(-1)[0];
  const points = known
    .map(([at, latency]) => {
      const x = width - ((end - at) / HISTORY_MS) * width;
      return `${x.toFixed(1)},${(height - 2 - (latency / top) * (height - 4)).toFixed(1)}`;
    })
    .join(" ");
  const line = document.createElementNS(svg, "polyline");
  line.setAttribute("points", points);
  chart.append(line);
  return chart;
}

function fillChoices() {
  for (const id of ["query-environments", "schema-environments"]) {
    const box = document.getElementById(id);
    const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
    const first = box.childElementCount === 0;
    show(box, environments.map((env) => {
      const input = el("input", {
        type: "checkbox", name: id, value: env.name, id: `${id}-${env.name}`,
        checked: first ? env.status !== "disabled" : checked.has(env.name),
      });
      return el("label", { for: `${id}-${env.name}` }, input, ` ${env.name}`);
    }));
  }
}

function chosen(id) {
  return [...document.querySelectorAll(`#${id} input:checked`)].map((i) => i.value);
}

// Rows keyed by the key columns' values, so that environments line up.
function keyOf(columns, row, keys) {
  return JSON.stringify(keys.map((k) => row[columns.indexOf(k)]));
}

// The query form's statement, environments, parameters and row limit, or
// the message saying what is wrong with them.
function queryArguments() {
  const targets = chosen("query-environments");
  if (targets.length === 0) return "Choose at least one environment.";
  const args = { sql: document.getElementById("sql").value, environments: targets };
  const parameters = document.getElementById("parameters").value.trim();
  if (parameters) {
    try {
      args.parameters = JSON.parse(parameters);
      if (!Array.isArray(args.parameters)) throw new Error("not an array");
    } catch {
      return "Parameters must be a JSON array, such as [42, \"x\"].";
    }
  }
  const maxRows = document.getElementById("max-rows").value;
  if (maxRows) args.max_rows = Number(maxRows);
  return args;
}

async function runQuery(event) {
  event.preventDefault();
  const out = document.getElementById("query-result");
  const args = queryArguments();
  if (typeof args === "string") return show(out, el("p", { class: "error", role: "alert" }, args));
  const keys = document.getElementById("keys").value.split(",").map((k) => k.trim()).filter(Boolean);
  if (keys.length) args.key_columns = keys;
  show(out, el("p", { class: "hint" }, "Running…"));
  try {
    const { failed, data } = await mcp.call("execute_query_multi_env", args);
    if (failed) return show(out, explain(data.error));
    show(out, queryAnswer(data, keys));
  } catch (error) {
    show(out, problem(error));
  }
}

function queryAnswer(data, keys) {
  const comparison = data.comparison;
  const changed = new Map(); // key -> Set(column)
  const partial = new Map(); // key -> present_in
  for (const d of comparison?.differences ?? []) {
    const key = JSON.stringify(Object.values(d.key));
    if (d.kind === "changed") (changed.get(key) ?? changed.set(key, new Set()).get(key)).add(d.column);
    else if (d.kind === "missing") partial.set(key, d.present_in);
  }
  const diffKeys = comparison?.differences?.[0] ? Object.keys(comparison.differences[0].key) : keys;

  const summary = comparison
    ? el("p", { class: comparison.identical ? "same" : "differs", id: "comparison-summary" },
      comparison.identical
        ? `Identical on ${comparison.compared.join(", ")}.`
        : `${comparison.total_differences} difference(s) between ${comparison.compared.join(", ")}`
          + (comparison.differences_truncated ? " (only the first are listed)" : "") + ".",
      comparison.partial ? " Some results were cut by a bound, so the comparison covers what was read." : "")
    : null;
  const columnDifferences = (comparison?.column_differences ?? []).map(({ kind, column, ...rest }) =>
    el("li", {}, `${kind.replaceAll("_", " ")} ${column ?? ""}: ${JSON.stringify(rest)}`));

  // In the order the environments were asked.
  const order = data.summary?.environments ?? [];
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  const panels = Object.entries(data.results ?? {}).sort(([a], [b]) => rank(a) - rank(b)).map(([name, result]) => {
    const columns = result.columns.map((c) => c.name);
    const header = el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c)));
    const rows = result.rows.map((row) => {
      const key = diffKeys.length && diffKeys.every((k) => columns.includes(k)) ? keyOf(columns, row, diffKeys) : null;
      const cells = changed.get(key);
      const onlyIn = partial.get(key);
      return el("tr", { class: onlyIn ? "only-here" : null, title: onlyIn ? `only in ${onlyIn.join(", ")}` : null },
        row.map((value, i) => el("td", {
          class: [cells?.has(columns[i]) ? "changed" : null, value === null ? "null" : null].filter(Boolean).join(" ") || null,
        }, cellText(value))));
    });
    const bounds = [];
    if (result.truncated) bounds.push(`cut at ${result.row_count} rows (max_rows ${result.max_rows}, or max_result_bytes)`);
    return el("section", { class: "result", "data-environment": name, "aria-label": `result of ${name}` },
      el("h3", {}, name),
      el("p", { class: "hint" }, `${result.row_count} row(s) in ${result.execution_time_ms} ms`,
        bounds.length ? el("strong", { class: "truncated" }, ` — ${bounds.join("; ")}`) : null),
      el("div", { class: "table-scroll" }, el("table", {}, el("thead", {}, header), el("tbody", {}, rows))));
  });
  const errors = Object.entries(data.errors ?? {}).sort(([a], [b]) => rank(a) - rank(b)).map(([name, error]) =>
    el("section", { class: "result failed", "data-environment": name, "aria-label": `error of ${name}` },
      el("h3", {}, name), explain(error)));
  return [summary, columnDifferences.length ? el("ul", { class: "column-differences" }, columnDifferences) : null,
    el("div", { class: "side-by-side" }, panels, errors)];
}

// Streams the rows from the server into a file the browser saves.
async function exportRows(format) {
  const out = document.getElementById("query-result");
  const args = queryArguments();
  if (typeof args === "string") return show(out, el("p", { class: "error", role: "alert" }, args));
  if (format === "csv" && args.environments.length !== 1) {
    return show(out, el("p", { class: "error", role: "alert" }, "CSV takes one environment; choose one, or export NDJSON."));
  }
  show(out, el("p", { class: "hint" }, "Exporting…"));
  const headers = { "Content-Type": "application/json" };
  if (mcp.token) headers.Authorization = `Bearer ${mcp.token}`;
  try {
    const response = await fetch("/ui/export", { method: "POST", headers, body: JSON.stringify({ ...args, format }) });
    if (response.status === 401) throw new NeedToken();
    if (!response.ok) {
      const answer = await response.json().catch(() => ({ error: { kind: "internal", message: `HTTP ${response.status}` } }));
      return show(out, explain(answer.error));
    }
    const file = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? `dbfleet-export.${format}`;
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: file }, file);
    link.click();
    show(out, el("p", { id: "export-done" }, `Exported ${blob.size} bytes to `, link, "."));
  } catch (error) {
    show(out, problem(error));
  }
}

async function compareSchemas(event) {
  event.preventDefault();
  const out = document.getElementById("schema-result");
  const targets = chosen("schema-environments");
  show(out, el("p", { class: "hint" }, "Reading catalogs…"));
  try {
    const [tables, schema] = await Promise.all([
      mcp.call("list_tables", { all_environments: true }),
      mcp.call("compare_schema", targets.length ? { environments: targets } : {}),
    ]);
    if (schema.failed) return show(out, explain(schema.data.error));
    const comparison = schema.data.comparison;
    const differing = new Set((comparison?.tables ?? []).map((t) => t.table));
    const missing = new Set((comparison?.missing_tables ?? []).map((t) => t.table));
    const lists = Object.entries(tables.data.results ?? {})
      .filter(([name]) => targets.length === 0 || targets.includes(name))
      .map(([name, list]) => el("section", { class: "result", "data-environment": name, "aria-label": `tables of ${name}` },
        el("h3", {}, name),
        el("ul", { class: "tables" }, list.map((t) => el("li", {
          class: differing.has(t.name) ? "changed" : missing.has(t.name) ? "only-here" : null,
        }, el("button", { type: "button", class: "link", onclick: () => describe(t.name, tables.data.results, targets) },
          `${t.schema ? `${t.schema}.` : ""}${t.name}`), t.kind === "view" ? el("span", { class: "badge" }, "view") : null)))));
    const details = [
      ...(comparison?.missing_tables ?? []).map((t) =>
        el("li", {}, `${t.table}: only in ${t.present_in.join(", ")}, missing from ${t.missing_from.join(", ")}`)),
      ...(comparison?.tables ?? []).flatMap((t) => t.differences.map((d) =>
        el("li", {}, `${t.table}: ${d.kind.replaceAll("_", " ")} ${d.column ?? d.name ?? ""}`,
          d.present_in ? ` (in ${d.present_in.join(", ")}; not in ${d.missing_from.join(", ")})` : "",
          d.values ? ` ${JSON.stringify(d.values)}` : ""))),
    ];
    const errors = Object.entries(schema.data.errors ?? {}).map(([name, error]) =>
      el("section", { class: "result failed", "data-environment": name }, el("h3", {}, name), explain(error)));
    show(out,
      el("p", { class: comparison?.identical ? "same" : "differs", id: "schema-summary" },
        comparison?.identical ? `The schemas of ${comparison.compared.join(", ")} are identical.`
          : `${details.length} difference(s) between ${(comparison?.compared ?? []).join(", ")}.`),
      details.length ? el("ul", { class: "schema-differences" }, details) : null,
      el("div", { class: "side-by-side" }, lists, errors),
      el("div", { id: "describe-result", "aria-live": "polite" }));
  } catch (error) {
    show(out, problem(error));
  }
}

// One table described on every environment that has it, side by side: the
// columns found only in some environments, and those whose logical type
// differs, highlighted.
async function describe(table, listed, targets) {
  const out = document.getElementById("describe-result");
  const holders = Object.entries(listed)
    .filter(([name, list]) => (targets.length === 0 || targets.includes(name)) && list.some((t) => t.name === table))
    .map(([name, list]) => [name, list.find((t) => t.name === table).schema]);
  show(out, el("p", { class: "hint" }, `Describing ${table}…`));
  try {
    const answers = await Promise.all(holders.map(([environment, schema]) =>
      mcp.call("describe_table", schema ? { table, environment, schema } : { table, environment })));
    const described = holders.map(([name], i) => [name, answers[i]]);
    const types = new Map(); // column -> Set(logical type)
    const holdersOf = new Map(); // column -> count of environments
    for (const [, { failed, data }] of described) {
      if (failed) continue;
      for (const column of data.table.columns) {
        (types.get(column.name) ?? types.set(column.name, new Set()).get(column.name)).add(column.logical_type);
        holdersOf.set(column.name, (holdersOf.get(column.name) ?? 0) + 1);
      }
    }
    const answered = described.filter(([, a]) => !a.failed).length;
    show(out, el("h3", {}, table), el("div", { class: "side-by-side" }, described.map(([name, { failed, data }]) => {
      if (failed) return el("section", { class: "result failed", "data-environment": name }, el("h3", {}, name), explain(data.error));
      const rows = data.table.columns.map((c) => el("tr", {
        class: holdersOf.get(c.name) < answered ? "only-here" : null,
      },
      el("td", {}, c.name),
      el("td", { class: types.get(c.name).size > 1 ? "changed" : null }, `${c.type} (${c.logical_type})`),
      el("td", {}, c.nullable ? "null" : "not null"),
      el("td", { class: c.default === null ? "null" : null }, cellText(c.default))));
      return el("section", { class: "result", "data-environment": name, "aria-label": `${table} on ${name}` },
        el("h3", {}, name),
        el("p", { class: "hint" }, `primary key: ${(data.table.primary_key ?? []).join(", ") || "none"}`),
        el("div", { class: "table-scroll" }, el("table", {},
          el("thead", {}, el("tr", {}, ["column", "type", "null", "default"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows))));
    })));
  } catch (error) {
    show(out, problem(error));
  }
}

async function refreshActivity() {
  const out = document.getElementById("activity-result");
  const headers = mcp.token ? { Authorization: `Bearer ${mcp.token}` } : {};
  try {
    const response = await fetch("/ui/activity", { headers });
    if (response.status === 401) throw new NeedToken();
    if (!response.ok) throw new Error(`activity: HTTP ${response.status}`);
    const { records } = await response.json();
    for (const [id, field] of [["activity-environment", "environment"], ["activity-client", "client"]]) {
      const select = document.getElementById(id);
      const known = new Set([...select.options].map((o) => o.value));
      for (const value of new Set(records.map((r) => r[field]).filter(Boolean))) {
        if (!known.has(value)) select.append(el("option", { value }, value));
      }
    }
    const environment = document.getElementById("activity-environment").value;
    const client = document.getElementById("activity-client").value;
    const shown = records.filter((r) => (!environment || r.environment === environment) && (!client || r.client === client));
    if (shown.length === 0) return show(out, el("p", { class: "hint" }, "No statement yet."));
    const header = ["time", "environment", "client", "tool", "outcome", "rows", "ms", "statement"];
    show(out, el("div", { class: "table-scroll" }, el("table", { id: "activity-table" },
      el("thead", {}, el("tr", {}, header.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, shown.map((r) => el("tr", { "data-outcome": r.outcome },
        el("td", {}, new Date(r.time).toLocaleTimeString()),
        el("td", {}, r.environment ?? "—"),
        el("td", {}, r.client),
        el("td", {}, r.tool),
        el("td", { class: `outcome-${r.outcome}` }, r.error_kind ? `${r.outcome} (${r.error_kind})` : r.outcome),
        el("td", {}, r.rows ?? r.affected_rows ?? ""),
        el("td", {}, r.duration_ms),
        el("td", { class: "statement" }, r.statement ?? "")))))));
  } catch (error) {
    show(out, problem(error));
  }
}

// --- Navigation and the token ------------------------------------------------

function setConnection(text) {
  document.getElementById("connection").textContent = text;
}

function askForToken() {
  document.getElementById("login").hidden = false;
  for (const page of document.querySelectorAll(".page")) page.hidden = true;
  clearInterval(pageTimer);
  pageTimer = null;
  document.getElementById("token").focus();
}

function route() {
  const page = (location.hash || "#estate").slice(1);
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== page;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clearInterval(pageTimer);
  pageTimer = null;
  refreshEstate();
  if (page === "estate") pageTimer = setInterval(refreshEstate, ESTATE_PERIOD_MS);
  if (page === "activity") {
    refreshActivity();
    pageTimer = setInterval(refreshActivity, ACTIVITY_PERIOD_MS);
  }
}

document.getElementById("estate-period").textContent = String(ESTATE_PERIOD_MS / 1000);
document.getElementById("activity-period").textContent = String(ACTIVITY_PERIOD_MS / 1000);
for (const id of ["activity-environment", "activity-client"]) {
  document.getElementById(id).addEventListener("change", refreshActivity);
}
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  mcp.token = document.getElementById("token").value;
  mcp.opening = null;
  try {
    await mcp.ready();
    sessionStorage.setItem("dbfleet-token", mcp.token);
    document.getElementById("login").hidden = true;
    document.getElementById("login-error").textContent = "";
    route();
  } catch (error) {
    document.getElementById("login-error").textContent =
      error instanceof NeedToken ? "The server refused this token." : error.message;
  }
});
document.getElementById("query-form").addEventListener("submit", runQuery);
document.getElementById("schema-form").addEventListener("submit", compareSchemas);
document.getElementById("export-ndjson").addEventListener("click", () => exportRows("ndjson"));
document.getElementById("export-csv").addEventListener("click", () => exportRows("csv"));
window.addEventListener("hashchange", route);
route();
