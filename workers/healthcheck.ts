// The image's HEALTHCHECK: asks this container's own /healthz. The API (and `npm start`) answers
// on PORT, a worker on METRICS_PORT, so both are tried, PORT first; any 200 is healthy.
// Exit 0 healthy, 1 not (what Docker expects). No dependency beyond Node itself.
const ports = [process.env.PORT?.trim() || "3000", process.env.METRICS_PORT?.trim()].filter((p): p is string => Boolean(p));

async function healthy(port: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

let ok = false;
for (const port of new Set(ports)) {
  if (await healthy(port)) {
    ok = true;
    break;
  }
}
process.exit(ok ? 0 : 1);
