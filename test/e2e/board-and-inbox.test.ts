// A real browser (Debian's Chromium through playwright-core) against the real HTTP app on a real
// port: an operator reads a failed job's reason on Bull Board, retries it there and sees it
// complete; a newcomer opens /dev/inbox and reads the rendered incident. Screenshots land in
// test/artifacts/ (ignored by git).
//
// The app is built the way `npm start` builds it (workers/start-api.ts): buildApp with the
// harness's deps plus the dev inbox, so the board, its auth and the dev inbox share one origin
// exactly as in development. The worker delivers projects with their own config to a test SMTP
// server, and everything else to the dev inbox (DEFAULT_SMTP_URL).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import nodemailer from "nodemailer";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { buildApp } from "../../src/http/app.ts";
import { startDevInbox, type DevInbox, type InboxMessage } from "../../src/dev-inbox/inbox.ts";
import { createHarness, eventually, getJob, waitForJobState, type Harness, passwordConfig, putConfig } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { launchChromium } from "../helpers/browser.ts";

const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
const BOARD = "/admin/queues";
const QUEUE_DISPLAY_NAME = "Email deliveries";
/** Every wait in a page is bounded by this (or less). */
const UI_TIMEOUT_MS = 10_000;

let inbox: DevInbox | undefined;
let smtp: TestSmtpServer | undefined;
let h: Harness | undefined;
let app: FastifyInstance | undefined;
let browser: Browser | undefined;
let base = "";

function ready(): { h: Harness; smtp: TestSmtpServer; inbox: DevInbox; browser: Browser } {
  assert.ok(h && smtp && inbox && browser, "setup did not finish");
  return { h, smtp, inbox, browser };
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  // First, so a missing Chromium fails the file at once with its own message.
  browser = await launchChromium();
  inbox = await startDevInbox({});
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "e2e-pass" } });
  h = await createHarness("e2e", {
    env: { DEFAULT_SMTP_URL: inbox.url, DEFAULT_FROM: "notify-smtp dev <notifications@example.test>" },
  });
  await putConfig(h, "acme", passwordConfig(smtp.port, "mailer", "e2e-pass"));
  app = await buildApp({ ...h.appDeps, devInbox: inbox });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  assert.ok(address && typeof address === "object");
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  // Each step on its own, so one failure does not leak the rest.
  const steps: [string, (() => Promise<void>) | undefined][] = [
    ["browser", browser && (() => browser!.close())],
    ["app", app && (() => app!.close())],
    ["harness", h && (() => h!.close())],
    ["smtp", smtp && (() => smtp!.close())],
    ["inbox", inbox && (() => inbox!.close())],
  ];
  const errors: unknown[] = [];
  for (const [, step] of steps) {
    if (step) await step().catch((err: unknown) => errors.push(err));
  }
  if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
});

/** A context that only talks to the app: the board's Google Fonts link is refused, not waited for. */
async function newContext(options: { token?: string } = {}): Promise<BrowserContext> {
  const context = await ready().browser.newContext({
    viewport: { width: 1280, height: 900 },
    ...(options.token !== undefined ? { httpCredentials: { username: "admin", password: options.token, origin: base } } : {}),
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  await context.route((url) => url.origin !== base, (route) => route.abort());
  return context;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

/** Runs `body`; if it throws, keeps a screenshot of where the page was before rethrowing. */
async function keepFailureShot(page: Page, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    await shot(page, `failure-${name}`).catch(() => {});
    throw err;
  }
}

async function enqueueIncident(projectId: string, data: Record<string, unknown>): Promise<string> {
  const res = await ready().h.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: ready().h.auth,
    payload: { type: "incident", projectId, to: ["oncall@example.com"], data },
  });
  assert.equal(res.statusCode, 202, res.body);
  const { jobs } = res.json() as { jobs: { id: string }[] };
  assert.equal(jobs.length, 1);
  return jobs[0]!.id;
}

/** The job's card on a board list page: the innermost element holding both its link and its tabs. */
function jobCard(page: Page, jobId: string): Locator {
  return page
    .locator("div")
    .filter({ has: page.getByRole("link", { name: jobId, exact: true }) })
    .filter({ has: page.getByRole("tablist") })
    .last();
}

/**
 * A job action button. Bull Board 9 renders them as icon buttons without an accessible name and
 * names them only in a tooltip, so do what a person does: hover each and read the tooltip.
 */
async function jobAction(page: Page, card: Locator, label: string): Promise<Locator> {
  const named = card.getByRole("button", { name: label, exact: true });
  if ((await named.count()) === 1) return named;
  const buttons = card.getByRole("button");
  const tooltip = page.getByText(label, { exact: true });
  const count = await buttons.count();
  for (let i = 0; i < count; i++) {
    const button = buttons.nth(i);
    if (((await button.textContent()) ?? "").trim() !== "") continue; // icon buttons only
    await button.hover();
    const shown = await tooltip.waitFor({ state: "visible", timeout: 1_500 }).then(() => true, () => false);
    if (shown) return button;
  }
  throw new Error(`no "${label}" action on the job card (hovered ${count} buttons)`);
}

/** Opens a status tab of the queue page and waits for the job to be listed, reloading (bounded) until it is. */
async function openTabWithJob(page: Page, tab: RegExp, jobId: string, timeoutMs = 15_000): Promise<void> {
  await page.getByRole("link", { name: tab }).first().click();
  const link = page.getByRole("link", { name: jobId, exact: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = await link.waitFor({ timeout: 3_000 }).then(() => true, () => false);
    if (listed) return;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not listed under ${tab} within ${timeoutMs} ms`);
    await page.reload();
  }
}

test("the board answers 401 to a browser without (or with wrong) credentials; the dev inbox needs none", { timeout: 30_000 }, async () => {
  const anonymous = await newContext();
  try {
    const page = await anonymous.newPage();
    // Chromium answers the Basic challenge by cancelling the login prompt, so the navigation
    // itself fails (net::ERR_INVALID_AUTH_CREDENTIALS); the response it got is the 401.
    const responded = page.waitForResponse((r) => r.url() === `${base}${BOARD}`);
    await page.goto(`${base}${BOARD}`).catch(() => null);
    const res = await responded;
    assert.equal(res.status(), 401);
    assert.match((await res.headerValue("www-authenticate")) ?? "", /^Basic realm=/);
    // The board's JSON API behind the UI is guarded too, not just the page.
    const api = await anonymous.request.get(`${base}${BOARD}/api/queues`);
    assert.equal(api.status(), 401);
    // The board's auth hook stays inside the board: the dev inbox is open (outside production).
    // (A fresh page: the first one is still settling on Chromium's error page.)
    const inboxPage = await (await anonymous.newPage()).goto(`${base}/dev/inbox`);
    assert.equal(inboxPage?.status(), 200);
  } finally {
    await anonymous.close();
  }

  const wrong = await newContext({ token: "not-the-token" });
  try {
    const page = await wrong.newPage();
    const res = await page.goto(`${base}${BOARD}`);
    assert.equal(res?.status(), 401);
    await page.getByText("unauthorized").waitFor();
  } finally {
    await wrong.close();
  }
});

test("a failed job shows its reason on the board, is retried from there and completes", { timeout: 45_000 }, async () => {
  const { h, smtp } = ready();
  // The first attempt is refused at RCPT (permanent), the retry goes through.
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 mailbox unavailable" });
  const jobId = await enqueueIncident("acme", {
    incidentId: "4242", title: "Checkout API down", state: "created", severity: "critical", monitors: ["checkout.acme.test"],
  });
  const failed = await waitForJobState(h, jobId, ["failed"]);
  assert.match(failed.failedReason ?? "", /\[send\] 550/);
  assert.equal(smtp.received.length, 0);

  const context = await newContext({ token: h.settings.adminToken });
  try {
    const page = await context.newPage();
    await keepFailureShot(page, "board", async () => {
      const res = await page.goto(`${base}${BOARD}`);
      assert.equal(res?.status(), 200);

      // Board home → the queue, by its display name.
      await page.getByRole("link", { name: QUEUE_DISPLAY_NAME, exact: true }).click();
      await page.getByRole("heading", { name: QUEUE_DISPLAY_NAME, level: 1 }).waitFor();

      // Failed tab → the job → its reason.
      await openTabWithJob(page, /^failed\b/i, jobId);
      const card = jobCard(page, jobId);
      await card.getByRole("tab", { name: "Error" }).click();
      const reasonPanel = card.getByRole("tabpanel", { name: "Error" });
      await reasonPanel.getByText("[send] 550", { exact: false }).waitFor();
      const reason = await reasonPanel.innerText();
      assert.match(reason, /\[send\] 550/);
      assert.match(reason, /5\.1\.1 mailbox unavailable/);
      assert.match(reason, /Hint: /);
      assert.ok(!reason.includes("e2e-pass"), "the SMTP password is on the board");
      await shot(page, "board-failed");

      // Retry from the card, confirm, and watch it complete.
      const retry = await jobAction(page, card, "Retry");
      await retry.click();
      const confirm = page.getByRole("alertdialog");
      await confirm.waitFor();
      assert.match(await confirm.innerText(), /retry this job/i);
      await confirm.getByRole("button", { name: "Confirm" }).click();
      await confirm.waitFor({ state: "hidden" });

      await openTabWithJob(page, /^completed\b/i, jobId);
      await jobCard(page, jobId).waitFor();
      await shot(page, "board-completed");
    });
  } finally {
    await context.close();
  }

  const done = await waitForJobState(h, jobId, ["completed"]);
  assert.equal(done.state, "completed");
  assert.match(done.result?.response ?? "", /^250/);
  await smtp.waitForCount(1);
  assert.equal(smtp.script.length, 0, "the scripted 550 was not used");
  // Once: nothing else is queued for this job, so a second copy could only come from a bug.
  const again = await getJob(h, jobId);
  assert.equal(again.state, "completed");
  assert.equal(smtp.received.length, 1);
  assert.equal(smtp.received[0]!.mail.messageId, done.result?.messageId);
  assert.match(smtp.received[0]!.mail.subject ?? "", /Checkout API down/);
});

test("the dev inbox lists the delivered incident and renders it in a sandboxed iframe", { timeout: 30_000 }, async () => {
  const { h, inbox } = ready();
  const title = "Payments <degraded> & slow";
  // "walk-in" has no config of its own: it goes to the default server, the dev inbox.
  const jobId = await enqueueIncident("walk-in", {
    incidentId: "77", title, state: "acknowledged", severity: "major", description: "Card payments time out for some users.",
  });
  const done = await waitForJobState(h, jobId, ["completed"]);
  const message = await eventually<InboxMessage>(
    () => inbox.list().find((m) => m.headers["message-id"] === done.result?.messageId),
    5_000,
    "the email in the dev inbox",
  );
  assert.ok(message.subject.includes(title), message.subject);

  // No credentials: the dev inbox is open outside production.
  const context = await newContext();
  try {
    const page = await context.newPage();
    await keepFailureShot(page, "inbox", async () => {
      const res = await page.goto(`${base}/dev/inbox`);
      assert.equal(res?.status(), 200);
      await page.getByRole("heading", { name: "Dev inbox" }).waitFor();
      const link = page.getByRole("link", { name: message.subject, exact: true });
      await link.waitFor();
      // The list shows the escaped text, not markup.
      const row = page.getByRole("row").filter({ has: link });
      assert.match(await row.innerText(), /oncall@example\.com/);
      await shot(page, "inbox-list");

      await link.click();
      await page.waitForURL(`${base}/dev/inbox/${message.id}`);
      await page.getByRole("heading", { name: message.subject, level: 1 }).waitFor();
      const iframe = page.locator("iframe");
      assert.equal(await iframe.getAttribute("sandbox"), "", "the message HTML iframe is not fully sandboxed");
      const mail = page.frameLocator("iframe");
      // The template escaped the title, so the browser shows it literally.
      await mail.getByText(title, { exact: true }).first().waitFor();
      await mail.getByText("Card payments time out for some users.").waitFor();
      await shot(page, "inbox-message");
    });
  } finally {
    await context.close();
  }
});

test("the dev inbox shows times relative and local, and refreshes itself when mail arrives", { timeout: 30_000 }, async () => {
  const { inbox } = ready();
  const context = await newContext();
  try {
    const page = await context.newPage();
    await keepFailureShot(page, "inbox-refresh", async () => {
      await page.goto(`${base}/dev/inbox`);
      await page.getByRole("heading", { name: "Dev inbox" }).waitFor();
      const subject = `Arrives while you look ${Date.now()}`;
      const transport = nodemailer.createTransport({ host: inbox.host, port: inbox.port, secure: false, ignoreTLS: true });
      try {
        await transport.sendMail({ from: "a@example.com", to: "watcher@example.com", subject, text: "hello" });
      } finally {
        transport.close();
      }
      // Nobody reloads: the page's script notices the new message.
      const link = page.getByRole("link", { name: subject, exact: true });
      await link.waitFor({ timeout: UI_TIMEOUT_MS });
      const time = page.getByRole("row").filter({ has: link }).locator("time");
      await page.waitForFunction((el) => !/^\d{4}-/.test(el?.textContent ?? ""), await time.elementHandle());
      assert.match(await time.innerText(), /now|second/i, "relative to now");
      assert.ok(((await time.getAttribute("title")) ?? "").length > 0, "the full local time on hover");

      // Search, then clear from the page.
      await page.getByRole("searchbox").fill("watcher@");
      await page.getByRole("button", { name: "Search" }).click();
      await page.waitForURL(/\?q=watcher%40/);
      assert.equal(await page.getByRole("link", { name: subject, exact: true }).count(), 1);
      await page.getByRole("button", { name: "Clear inbox" }).click();
      await page.waitForURL(`${base}/dev/inbox`);
      await page.getByText("No messages yet").waitFor();
      assert.equal(inbox.list().length, 0);
    });
  } finally {
    await context.close();
  }
});
