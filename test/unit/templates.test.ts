import { test } from "node:test";
import assert from "node:assert/strict";
import type { AlertData, EmailJobData, IncidentData, StatusPageData } from "../../src/jobs/contracts.ts";
import {
  escapeHtml,
  renderAlert,
  renderEmail,
  renderIncident,
  renderStatusPage,
  safeHref,
} from "../../src/templates/index.ts";

const incident: IncidentData = {
  incidentId: "42",
  title: "API latency high",
  state: "resolved",
  severity: "critical",
  description: "p99 above 2s",
  monitors: ["api-eu", "api-us"],
  url: "https://status.example.com/incidents/42?tab=a&b=1",
};
const alert: AlertData = { alertId: "a-7", title: "Disk 90%", state: "acknowledged", severity: "critical" };
const statusPage: StatusPageData = {
  statusPageId: "sp1",
  statusPageName: "Acme Status",
  kind: "maintenance",
  title: "DB upgrade",
  body: "We will upgrade the database.",
  url: "https://status.acme.test/",
};
const XSS = `<script>alert("x")</script> & 'q'`;
const XSS_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;";

test("escapeHtml escapes & < > \" ' and leaves other text alone", () => {
  assert.equal(escapeHtml(XSS), XSS_ESCAPED);
  assert.equal(escapeHtml("plain text é"), "plain text é");
  assert.equal(escapeHtml("<"), "&lt;");
});

test("safeHref accepts only plain http(s) URLs", () => {
  assert.equal(safeHref("https://x.test/a?b=1"), "https://x.test/a?b=1");
  assert.equal(safeHref("HTTP://x.test/"), "HTTP://x.test/");
  for (const bad of [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    " https://x.test/",
    "https://x.test/\r\nBcc: evil@x.test",
    "https://x.test/\"onmouseover=\"x",
    "https://x.test/>",
    "https://",
    "data:text/html,<b>x</b>",
    "//x.test/",
    undefined,
  ]) {
    assert.equal(safeHref(bad), undefined, `should refuse ${JSON.stringify(bad)}`);
  }
});

test("incident: subject, html and text", () => {
  const r = renderIncident(incident);
  assert.equal(r.subject, "[Incident #42] Resolved: API latency high");
  assert.ok(r.html.startsWith("<!DOCTYPE html>"));
  assert.match(r.html, /<h1[^>]*>API latency high<\/h1>/);
  assert.match(r.html, />Resolved<\/span>/);
  assert.ok(r.html.includes("<strong>Severity:</strong> critical"));
  assert.ok(r.html.includes("p99 above 2s"));
  assert.ok(r.html.includes('href="https://status.example.com/incidents/42?tab=a&amp;b=1"'));
  assert.ok(r.html.includes(">View incident</a>"));
  assert.doesNotMatch(r.html, /<img|<link|<script|src=/i);
  assert.ok(r.text.startsWith("[Resolved] API latency high\n"));
  assert.ok(r.text.includes("Severity: critical\n"));
  assert.ok(r.text.includes("View incident: https://status.example.com/incidents/42?tab=a&b=1\n"));
  assert.deepEqual(r.headers, {});
});

test("incident: monitors are listed in html and text, and omitted when absent", () => {
  const r = renderIncident(incident);
  assert.ok(r.html.includes("<li>api-eu</li>\n<li>api-us</li>"));
  assert.ok(r.text.includes("Affected monitors:\n- api-eu\n- api-us\n"));
  const none = renderIncident({ ...incident, monitors: undefined });
  assert.ok(!none.html.includes("Affected monitors"));
  assert.ok(!none.text.includes("Affected monitors"));
  const evil = renderIncident({ ...incident, monitors: ["<b>m</b>"] });
  assert.ok(evil.html.includes("<li>&lt;b&gt;m&lt;/b&gt;</li>"));
});

test("alert: subject, html and text", () => {
  const r = renderAlert(alert);
  assert.equal(r.subject, "[Alert] Acknowledged: Disk 90% (critical)");
  assert.match(r.html, />Acknowledged<\/span>/);
  assert.match(r.html, /<h1[^>]*>Disk 90%<\/h1>/);
  assert.ok(!r.html.includes("<a "), "no url, so no link");
  assert.ok(r.text.startsWith("[Acknowledged] Disk 90%\n"));
  assert.ok(r.text.includes("Alert: a-7\n"));
  assert.equal(renderAlert({ ...alert, state: "created" }).subject, "[Alert] New: Disk 90% (critical)");
});

test("status-page: subject, html and text", () => {
  const r = renderStatusPage(statusPage);
  assert.equal(r.subject, "[Acme Status] Scheduled maintenance: DB upgrade");
  assert.match(r.html, />Scheduled maintenance<\/span>/);
  assert.ok(r.html.includes("We will upgrade the database."));
  assert.ok(r.html.includes('href="https://status.acme.test/"'));
  assert.ok(r.html.includes("updates from Acme Status."));
  assert.ok(r.text.includes("\nWe will upgrade the database.\n"));
  assert.ok(r.text.includes("View status page: https://status.acme.test/\n"));
  assert.equal(renderStatusPage({ ...statusPage, kind: "announcement" }).subject, "[Acme Status] Announcement: DB upgrade");
});

test("user values with <script> and quotes are escaped in html", () => {
  const i = renderIncident({ ...incident, title: XSS, description: XSS, severity: XSS });
  const a = renderAlert({ ...alert, title: XSS, description: XSS, alertId: XSS });
  const s = renderStatusPage({ ...statusPage, title: XSS, body: XSS, statusPageName: XSS });
  for (const r of [i, a, s]) {
    assert.ok(!r.html.includes("<script>"), "raw <script> in html");
    assert.ok(!r.html.includes(`"x"`), "raw quotes in html");
    assert.ok(!r.html.includes("'q'"), "raw single quotes in html");
    assert.ok(r.html.includes(`<h1 style="margin:12px 0 16px;font-size:20px;line-height:1.3;">${XSS_ESCAPED}</h1>`));
    assert.ok(r.html.includes(`<title>${XSS_ESCAPED}</title>`));
    assert.ok(r.text.includes(XSS), "text part carries the value verbatim");
  }
  assert.ok(s.html.includes(`updates from ${XSS_ESCAPED}.`));
});

test("javascript: URLs are not linked", () => {
  for (const url of ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "java\nscript:alert(1)"]) {
    const r = renderIncident({ ...incident, url });
    assert.ok(!/javascript/i.test(r.html), `html links ${url}`);
    assert.ok(!r.html.includes("View incident"));
    assert.ok(!r.text.includes("View incident"));
    assert.ok(!r.text.includes("alert(1)"));
  }
});

test("List-Unsubscribe headers only when unsubscribeUrl is set and safe", () => {
  const url = "https://status.acme.test/unsubscribe?t=a&s=b";
  const r = renderStatusPage({ ...statusPage, unsubscribeUrl: url });
  assert.deepEqual(r.headers, {
    "List-Unsubscribe": `<${url}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  });
  assert.ok(r.html.includes('<a href="https://status.acme.test/unsubscribe?t=a&amp;s=b" style="color:#667085;">Unsubscribe</a>'));
  assert.ok(r.text.includes(`\nUnsubscribe: ${url}\n`));

  const without = renderStatusPage(statusPage);
  assert.deepEqual(without.headers, {});
  assert.ok(!without.html.includes("Unsubscribe"));
  assert.ok(!without.text.includes("Unsubscribe"));

  const unsafe = renderStatusPage({ ...statusPage, unsubscribeUrl: "javascript:alert(1)" });
  assert.deepEqual(unsafe.headers, {});
  assert.ok(!unsafe.html.includes("Unsubscribe"));

  // RFC 8058 one-click needs HTTPS; a plain http link still gets List-Unsubscribe.
  const http = renderStatusPage({ ...statusPage, unsubscribeUrl: "http://acme.test/u" });
  assert.deepEqual(http.headers, { "List-Unsubscribe": "<http://acme.test/u>" });
});

test("HTML lines stay short, so the part goes out 7bit", () => {
  const r = renderEmail({ type: "incident", projectId: "p", to: "a@x.test", enqueuedAt: 0, data: { incidentId: "1", title: "t", state: "created", severity: "s", description: "one\ntwo", monitors: ["m1", "m2"], url: "https://x.test/i/1" } });
  assert.ok(Math.max(...r.html.split("\n").map((line) => line.length)) < 998);
});

test("line breaks in descriptions and bodies are preserved", () => {
  const multi = "line one\nline two\r\nline <3>\rend";
  const i = renderIncident({ ...incident, description: multi });
  assert.ok(i.html.includes("line one<br>\nline two<br>\nline &lt;3&gt;<br>\nend"));
  assert.ok(i.text.includes(`\n${multi}\n`));
  const s = renderStatusPage({ ...statusPage, body: "a\n\nb" });
  assert.ok(s.html.includes(">a<br>\n<br>\nb</p>"));
  assert.ok(s.text.includes("\na\n\nb\n"));
});

test("subjects never contain CR or LF", () => {
  const title = "Disk full\r\nBcc: victim@example.com";
  for (const r of [
    renderIncident({ ...incident, title }),
    renderAlert({ ...alert, title, severity: "hi\n" }),
    renderStatusPage({ ...statusPage, title, statusPageName: "Acme\rStatus" }),
  ]) {
    assert.doesNotMatch(r.subject, /[\r\n]/);
    assert.ok(r.subject.includes("Disk full Bcc: victim@example.com"));
  }
});

test("renderEmail dispatches on job.type", () => {
  const base = { projectId: "p1", to: "ops@example.com", enqueuedAt: 0 };
  const jobs: EmailJobData[] = [
    { ...base, type: "incident", data: incident },
    { ...base, type: "alert", data: alert },
    { ...base, type: "status-page", data: statusPage },
  ];
  const subjects = jobs.map((j) => renderEmail(j).subject);
  assert.deepEqual(subjects, [
    "[Incident #42] Resolved: API latency high",
    "[Alert] Acknowledged: Disk 90% (critical)",
    "[Acme Status] Scheduled maintenance: DB upgrade",
  ]);
  assert.deepEqual(renderEmail(jobs[0]!), renderIncident(incident));
  const bogus = { ...base, type: "sms", data: {} } as unknown as EmailJobData;
  assert.throws(() => renderEmail(bogus), /unknown email type: sms/);
});
