// The sign-in page in a real browser: Debian's Chromium, headless, driven by
// playwright-core. It opens /auth/authorize for a registered public app and
// checks that the page renders with the app's name and every requested scope
// (each a checkbox with a label), that a wrong password shows the error in an
// element with role="alert", and that the form works by keyboard alone: Tab
// to each field, type, Space to untick one scope, Space on the button, which
// leads to the app's redirect URI with `code` and `state`. The code is then
// exchanged (PKCE S256) to see what was granted. Screenshots of the page are
// kept in ARTEFACTS (sign-in.png, sign-in-error.png).
//
// usage: node sign_in_page.mjs --base BASE --port APP_PORT --client ID
//        --scope SCOPES --username U --password P --patient ID
//        --untick SCOPE --app-name NAME --artefacts DIR
//        [--chromium /usr/bin/chromium]
// Prints one line of JSON; exits 1 on a failed check (15 s at most), 2 on
// bad arguments.

import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const TIMEOUT_MS = 15_000;

function fail(why, code = 1) {
  process.stderr.write(`sign_in_page.mjs: ${why}\n`);
  process.exit(code);
}

let opts;
try {
  opts = parseArgs({
    options: {
      base: { type: "string" },
      port: { type: "string" },
      client: { type: "string" },
      scope: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
      patient: { type: "string" },
      untick: { type: "string" },
      "app-name": { type: "string" },
      artefacts: { type: "string" },
      chromium: { type: "string", default: "/usr/bin/chromium" },
    },
  }).values;
} catch (e) {
  fail(e.message, 2);
}
for (const k of ["base", "port", "client", "scope", "username", "password", "patient", "untick", "app-name", "artefacts"]) {
  if (!opts[k]) fail(`--${k} is required`, 2);
}
const timer = setTimeout(() => fail(`not done within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
timer.unref();

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const b64url = (buf) => buf.toString("base64url");
const redirectUri = `http://127.0.0.1:${opts.port}/cb`;
const scopes = opts.scope.split(" ");

// The app's redirect URI answers with a small page, as an app would.
const app = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end("<!DOCTYPE html><title>Donor portal</title><p>Signed in.</p>");
});

function authorizeUrl(state, challenge) {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: opts.client,
    redirect_uri: redirectUri,
    scope: opts.scope,
    state,
    aud: opts.base,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${opts.base}/auth/authorize?${q}`;
}

async function activeId(page) {
  return page.evaluate(() => document.activeElement?.id ?? "");
}

// Presses Tab until the element with this id has the focus.
async function tabTo(page, id, most = 20) {
  for (let i = 0; i < most; i++) {
    if ((await activeId(page)) === id) return i;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached #${id} (focus is on #${await activeId(page)})`);
}

async function main() {
  await new Promise((resolve, reject) => {
    app.once("error", reject);
    app.listen(Number(opts.port), "127.0.0.1", resolve);
  });
  mkdirSync(opts.artefacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: opts.chromium,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 1000 } });
    const verifier = b64url(randomBytes(32));
    const challenge = b64url(createHash("sha256").update(verifier).digest());
    const state = b64url(randomBytes(12));
    const response = await page.goto(authorizeUrl(state, challenge));

    // It renders: 200, HTML, the heading, the app's name, every scope.
    check(response.status() === 200, `status ${response.status()}`);
    check(
      (response.headers()["content-type"] ?? "").startsWith("text/html"),
      "an HTML page",
    );
    const title = await page.title();
    const heading = await page.getByRole("heading", { level: 1 }).innerText();
    const appNameShown = await page.getByText(opts["app-name"], { exact: true }).isVisible();
    check(appNameShown, `the app's name ${opts["app-name"]} is shown`);
    const shown = [];
    for (const scope of scopes) {
      const box = page.locator(`input[type=checkbox][name=scope][value="${scope}"]`);
      check((await box.count()) === 1, `one checkbox for ${scope}`);
      const info = await box.evaluate((el) => ({
        id: el.id,
        checked: el.checked,
        labels: [...el.labels].map((l) => l.innerText.trim()),
        visible: el.getBoundingClientRect().width > 0,
      }));
      check(info.visible, `the checkbox of ${scope} is visible`);
      check(info.checked, `${scope} is ticked at first`);
      check(
        info.labels.length === 1 && info.labels[0].includes(scope),
        `${scope} has a label naming it: ${JSON.stringify(info.labels)}`,
      );
      // The label is the checkbox's accessible name.
      const byName = page.getByRole("checkbox", { name: info.labels[0], exact: true });
      check((await byName.count()) === 1, `the checkbox is named by its label: ${info.labels[0]}`);
      shown.push({ scope, label: info.labels[0] });
    }
    for (const id of ["username", "password", "patient"]) {
      const labels = await page.locator(`#${id}`).evaluate((el) => el.labels.length);
      check(labels === 1, `#${id} has a label`);
    }
    const screenshot = join(opts.artefacts, "sign-in.png");
    await page.screenshot({ path: screenshot, fullPage: true });

    // A wrong password: the page again, with the error as an alert.
    await tabTo(page, "username");
    await page.keyboard.type(opts.username);
    await page.keyboard.press("Tab");
    check((await activeId(page)) === "password", "Tab from the username goes to the password");
    await page.keyboard.type(`${opts.password}-wrong`);
    const [wrong] = await Promise.all([
      page.waitForNavigation(),
      page.keyboard.press("Enter"),
    ]);
    const alert = page.getByRole("alert");
    const alertText = (await alert.innerText()).trim();
    check(alertText === "Wrong username or password.", `the alert says ${alertText}`);
    const errorScreenshot = join(opts.artefacts, "sign-in-error.png");
    await page.screenshot({ path: errorScreenshot, fullPage: true });

    // By keyboard alone: Tab to each control in order, Space to untick one
    // scope, type the patient, Space on the button "Allow".
    const tabs = await tabTo(page, "username");
    await page.keyboard.type(opts.username);
    const order = ["username"];
    let unticked = null;
    for (;;) {
      await page.keyboard.press("Tab");
      const focus = await page.evaluate(() => {
        const el = document.activeElement;
        return { id: el.id, tag: el.tagName.toLowerCase(), type: el.type, value: el.value, text: el.innerText };
      });
      order.push(focus.id || `${focus.tag}:${focus.text}`);
      if (focus.id === "password") await page.keyboard.type(opts.password);
      if (focus.id === "patient") await page.keyboard.type(opts.patient);
      if (focus.type === "checkbox" && focus.value === opts.untick) {
        await page.keyboard.press("Space");
        unticked = await page.evaluate(() => !document.activeElement.checked);
      }
      if (focus.tag === "button") {
        check(focus.text.trim() === "Allow", `the button says ${focus.text}`);
        break;
      }
      check(order.length < 30, `Tab reaches the button: ${order}`);
    }
    check(unticked === true, `Space unticked ${opts.untick}`);
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(redirectUri)),
      page.keyboard.press("Space"),
    ]);
    const back = new URL(page.url());
    const code = back.searchParams.get("code");
    check(code, `a code in ${back.href}`);
    check(back.searchParams.get("state") === state, "the state comes back");

    // What the code grants (the app's exchange, PKCE S256).
    const tokenResponse = await fetch(`${opts.base}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri,
        client_id: opts.client,
        code_verifier: verifier,
      }).toString(),
    });
    const token = await tokenResponse.json();
    check(tokenResponse.status === 200, `token: ${JSON.stringify(token)}`);

    process.stdout.write(`${JSON.stringify({
      title,
      heading,
      appNameShown,
      scopes: shown,
      screenshot,
      errorScreenshot,
      wrongPassword: { status: wrong?.status(), alert: alertText },
      keyboard: { tabsToUsername: tabs, order, unticked: opts.untick },
      redirect: { origin: back.origin, path: back.pathname, hasCode: true, stateMatches: true },
      token: { scope: token.scope, patient: token.patient },
    })}\n`);
  } finally {
    await browser.close();
  }
}

main()
  .then(() => {
    app.close();
    process.exit(0);
  })
  .catch((e) => fail(e.stack ?? String(e)));
