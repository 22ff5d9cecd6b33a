// What a job is called in Bull Board and BullMQ's own tooling: type, project and the recipient's
// domain, so a list of jobs reads at a glance without showing anyone's full address.

/** `incident · acme · @example.com` */
export function jobName(data: { type: string; projectId: string; to: string }): string {
  const at = typeof data.to === "string" ? data.to.lastIndexOf("@") : -1;
  const domain = at === -1 ? "" : data.to.slice(at).toLowerCase();
  return [data.type, data.projectId, domain].filter(Boolean).join(" · ");
}
