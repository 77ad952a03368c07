// A SMART app driven by the SMART JS client (npm `fhirclient`, its Node
// adapter) against a real Hemolink server, with this script also playing the
// user's browser: it follows every redirect, fetches the sign-in page and
// submits its form as a browser does (the successful controls, in document
// order, as application/x-www-form-urlencoded).
//
// usage:
//   node smart_launch.mjs standalone --iss BASE --port APP_PORT --client ID
//        --scope SCOPES --username U --password P --patient ID
//        [--other ID] [--read TYPE/ID]...
//   node smart_launch.mjs ehr --iss BASE --port APP_PORT --client ID
//        --scope SCOPES --username U --password P --launch VALUE
//        [--other ID] [--read TYPE/ID]...
//
// The app listens on 127.0.0.1:APP_PORT: /launch calls fhirclient's
// authorize() (the EHR opens it with ?iss=&launch=; a standalone launch
// passes iss itself), /cb is the registered redirect URI and calls ready(),
// which exchanges the code (PKCE S256) at the token endpoint. With the client
// it returns, the app reads the patient in context, their Observations (and
// the encounter in context, if any), then tries each --read (the status of
// each) and searches the Observations of the patient --other.
// Prints one line of JSON: what the browser saw and what the app read.
// Exits 1 on any failure (10 s at most), 2 on bad arguments.

import http from "node:http";
import { parseArgs } from "node:util";
import smart from "fhirclient";

const TIMEOUT_MS = 10_000;

function fail(why, code = 1) {
  process.stderr.write(`smart_launch.mjs: ${why}\n`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      iss: { type: "string" },
      port: { type: "string" },
      client: { type: "string" },
      scope: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      patient: { type: "string" },
      launch: { type: "string" },
      other: { type: "string" },
      read: { type: "string", multiple: true },
    },
  });
} catch (e) {
  fail(e.message, 2);
}
const mode = parsed.positionals[0];
const opts = parsed.values;
const port = Number(opts.port);
if (
  !["standalone", "ehr"].includes(mode) ||
  !opts.iss || !Number.isInteger(port) || !opts.client || !opts.scope ||
  !opts.username || !opts.password ||
  (mode === "standalone" && !opts.patient) || (mode === "ehr" && !opts.launch)
) {
  fail("usage: see the comment at the top of smart_launch.mjs", 2);
}
setTimeout(() => fail(`no result within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

const appOrigin = `http://127.0.0.1:${port}`;
const redirectUri = `${appOrigin}/cb`;

// The app's session store: fhirclient keeps its state (PKCE verifier, token
// endpoint, token response) in it between /launch and /cb.
function memoryStorage() {
  const map = new Map();
  return {
    async get(key) {
      return map.get(key);
    },
    async set(key, value) {
      map.set(key, value);
      return value;
    },
    async unset(key) {
      return map.delete(key);
    },
  };
}
const storage = memoryStorage();

// What the app read after ready(), for the summary.
let appResult = null;

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (e) {
    return e.statusCode ?? e.status ?? `error: ${e.message}`;
  }
}

async function afterReady(client) {
  const patientId = client.patient.id;
  const patient = await client.patient.read();
  const bundle = await client.request(
    `Observation?patient=${encodeURIComponent(patientId)}`,
  );
  const observations = (bundle.entry ?? []).map((e) => ({
    id: e.resource.id,
    subject: e.resource.subject?.reference,
  }));
  let encounter = null;
  if (client.encounter.id) {
    const e = await client.encounter.read();
    encounter = { id: e.id, subject: e.subject?.reference };
  }
  // Reads of other records: the status of each.
  const reads = {};
  for (const path of opts.read ?? []) {
    reads[path] = await status(client.request(path));
  }
  // A search for another patient's Observations: what it finds.
  let other = null;
  if (opts.other) {
    try {
      const b = await client.request(`Observation?patient=${encodeURIComponent(opts.other)}`);
      other = (b.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    } catch (e) {
      other = e.statusCode ?? `error: ${e.message}`;
    }
  }
  const token = client.state.tokenResponse;
  return {
    clientPatientId: patientId,
    clientEncounterId: client.encounter.id,
    fhirUser: client.user.fhirUser,
    token: {
      token_type: token.token_type,
      scope: token.scope,
      patient: token.patient,
      encounter: token.encounter,
      need_patient_banner: token.need_patient_banner,
      has_id_token: typeof token.id_token === "string",
      has_refresh_token: typeof token.refresh_token === "string",
    },
    patient: { resourceType: patient.resourceType, id: patient.id },
    observations,
    encounter,
    reads,
    otherSearch: other,
  };
}

const app = http.createServer(async (req, res) => {
  const path = new URL(req.url, appOrigin).pathname;
  try {
    if (path === "/launch") {
      // An EHR launch brings iss and launch in the URL; fhirclient reads
      // them from there. A standalone launch names the server itself.
      await smart(req, res, storage).authorize({
        clientId: opts.client,
        scope: opts.scope,
        redirectUri,
        iss: opts.iss,
        pkceMode: "required",
      });
    } else if (path === "/cb") {
      const client = await smart(req, res, storage).ready();
      appResult = await afterReady(client);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(appResult));
    } else {
      res.writeHead(404);
      res.end();
    }
  } catch (e) {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end(`app error: ${e.stack ?? e}`);
  }
});

// --- The browser ----------------------------------------------------------

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (_, e) => {
    const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (e[0] !== "#") return named[e.toLowerCase()];
    return String.fromCodePoint(
      e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
    );
  });
}

function attributes(tag) {
  const out = {};
  const re = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  const body = tag.replace(/^<\w+/, "").replace(/\/?>$/, "");
  for (const m of body.matchAll(re)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? "");
  }
  return out;
}

// The form of the page and its controls in document order.
function parseForm(html) {
  const form = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
  if (!form) throw new Error(`no form on the page: ${html}`);
  const formAttrs = attributes(form[0].match(/<form\b[^>]*>/i)[0]);
  const controls = [...form[1].matchAll(/<(input|button|select|textarea)\b[^>]*>/gi)]
    .map((m) => ({ tag: m[1].toLowerCase(), ...attributes(m[0]) }));
  return { method: (formAttrs.method ?? "get").toLowerCase(), action: formAttrs.action ?? "", controls };
}

// The form data set a browser submits: named, enabled controls; checkboxes
// only when checked; buttons other than the submitter left out (the submit
// button here has no name). `fill` gives what the user typed, by name.
function formData(controls, fill) {
  const data = new URLSearchParams();
  for (const c of controls) {
    if (!c.name || "disabled" in c || c.tag === "button") continue;
    const type = (c.type ?? "text").toLowerCase();
    if (type === "submit" || type === "reset" || type === "image" || type === "button") continue;
    if ((type === "checkbox" || type === "radio") && !("checked" in c)) continue;
    const value = c.name in fill && type !== "checkbox" && type !== "hidden"
      ? fill[c.name]
      : c.value ?? (type === "checkbox" ? "on" : "");
    data.append(c.name, value);
  }
  return data;
}

// One navigation, following redirects as a browser does (303 and a 302
// after POST become GET). Returns the final response and the URL chain.
async function navigate(url, init = {}, chain = []) {
  let method = init.method ?? "GET";
  let body = init.body;
  let headers = init.headers ?? {};
  for (let hops = 0; hops < 10; hops++) {
    const r = await fetch(url, { method, body, headers, redirect: "manual" });
    chain.push({ method, url, status: r.status });
    if (![301, 302, 303, 307, 308].includes(r.status)) {
      return { response: r, url, chain };
    }
    url = new URL(r.headers.get("location"), url).href;
    if (r.status === 303 || ((r.status === 301 || r.status === 302) && method === "POST")) {
      method = "GET";
      body = undefined;
      headers = {};
    }
  }
  throw new Error(`too many redirects: ${JSON.stringify(chain)}`);
}

async function main() {
  await new Promise((resolve, reject) => {
    app.once("error", reject);
    app.listen(port, "127.0.0.1", resolve);
  });
  const launchUrl = mode === "ehr"
    ? `${appOrigin}/launch?iss=${encodeURIComponent(opts.iss)}&launch=${encodeURIComponent(opts.launch)}`
    : `${appOrigin}/launch`;
  const chain = [];
  // The app sends the browser to the authorization endpoint.
  const first = await navigate(launchUrl, {}, chain);
  const pageUrl = new URL(first.url);
  if (first.response.status !== 200 || pageUrl.pathname !== "/auth/authorize") {
    throw new Error(
      `expected the sign-in page, got ${first.response.status} at ${first.url}: ${await first.response.text()}`,
    );
  }
  const authorizeParams = Object.fromEntries(pageUrl.searchParams);
  const page = await first.response.text();
  const form = parseForm(page);
  if (form.method !== "post") throw new Error(`the form's method is ${form.method}`);
  const fill = { username: opts.username, password: opts.password };
  if (opts.patient) fill.patient = opts.patient;
  const data = formData(form.controls, fill);
  const action = new URL(form.action, first.url).href;
  // The user signs in; the server sends the browser back to the app.
  const second = await navigate(action, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: data.toString(),
  }, chain);
  const text = await second.response.text();
  if (second.response.status !== 200 || !appResult) {
    throw new Error(`after sign-in: ${second.response.status} at ${second.url}: ${text}`);
  }
  const back = chain.find((c) => c.url.startsWith(redirectUri));
  const backParams = Object.fromEntries(new URL(back.url).searchParams);
  const summary = {
    authorize: authorizeParams,
    page: {
      patientPicker: form.controls.some((c) => c.name === "patient"),
      scopeCheckboxes: form.controls
        .filter((c) => c.name === "scope" && c.type === "checkbox")
        .map((c) => c.value),
      submitted: [...new URLSearchParams(data).keys()],
    },
    login: { action, status: chain.find((c) => c.method === "POST").status },
    redirect: {
      hasCode: typeof backParams.code === "string" && backParams.code.length > 0,
      stateMatches: backParams.state === authorizeParams.state,
    },
    app: appResult,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main()
  .then(() => {
    app.close();
    process.exit(0);
  })
  .catch((e) => fail(e.stack ?? String(e)));
