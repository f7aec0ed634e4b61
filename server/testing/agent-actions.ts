import { createHash, randomBytes } from "node:crypto";
import type { TFormfile } from "@/lib/formfile/canonical";
import { agentImagePath } from "@/lib/protocol";
import { signAction } from "@/lib/signing/sign-action";
import { callTrpc, TEST_CONSOLE_ORIGIN } from "@/server/http/testing";
import type { FakeAgent, TOffer } from "./fake-agent";

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Uploads a fake disk image through the agent blob endpoint, as a real agent does after a build. */
export async function uploadImage(opts: { url: string; agent: FakeAgent; bytes?: Uint8Array }) {
  const bytes = opts.bytes ?? randomBytes(4096);
  const digest = sha256Digest(bytes);
  const res = await fetch(`${opts.url}${agentImagePath(digest)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${opts.agent.welcome?.agentToken ?? ""}` },
    body: Buffer.from(bytes),
  });
  if (res.status !== 201) throw new Error(`image upload failed: ${res.status} ${await res.text()}`);
  return { digest, sizeBytes: bytes.byteLength };
}

/** Acks a build offer, logs, uploads an image and completes the job. */
export async function completeBuild(opts: { url: string; agent: FakeAgent; offer: TOffer }) {
  const { agent, offer } = opts;
  agent.send({ type: "job.ack", jobId: offer.jobId });
  agent.send({ type: "job.progress", jobId: offer.jobId, phase: "building", message: "RUN true" });
  agent.send({ type: "job.log", jobId: offer.jobId, lines: ["step 1/1: RUN true", "done"] });
  const image = await uploadImage({ url: opts.url, agent });
  agent.send({
    type: "job.complete",
    jobId: offer.jobId,
    result: { kind: "build", imageDigest: image.digest, sizeBytes: image.sizeBytes },
  });
  return image;
}

/** Acks a boot offer, marks the instance running on the agent and completes the job. */
export function completeBoot(agent: FakeAgent, offer: TOffer): void {
  if (offer.kind !== "boot") throw new Error(`expected a boot offer, got ${offer.kind}`);
  agent.send({ type: "job.ack", jobId: offer.jobId });
  agent.instances.set(offer.payload.instanceId, "running");
  agent.send({
    type: "job.complete",
    jobId: offer.jobId,
    result: { kind: "boot", formnetIp: offer.payload.formnetIp },
  });
}

/** Completes an (acked) image prefetch as if the image had been fetched. */
export function completePrefetch(agent: FakeAgent, jobId: string): void {
  agent.send({ type: "job.complete", jobId, result: { kind: "prefetch", fromCache: false, sizeBytes: 0 } });
}

/** Acks and completes any instance job (stop or suspend/start/restart/delete) or image prefetch. */
export function completeInstanceJob(agent: FakeAgent, offer: TOffer): void {
  if (offer.kind === "build" || offer.kind === "boot") throw new Error(`unexpected ${offer.kind} offer`);
  agent.send({ type: "job.ack", jobId: offer.jobId });
  if (offer.kind === "prefetch") {
    completePrefetch(agent, offer.jobId);
    return;
  }
  const id = offer.payload.instanceId;
  if (offer.kind === "stop" && offer.payload.suspend) {
    // A suspend (protocol 7) keeps the guest's memory: the VM is listed as suspended from now on.
    agent.instances.set(id, "suspended");
    agent.send({ type: "instance.status", instanceId: id, status: "suspended" });
    agent.send({ type: "job.complete", jobId: offer.jobId, result: { kind: "stop", suspended: true } });
    return;
  }
  if (offer.kind === "delete") agent.instances.delete(id);
  else agent.instances.set(id, offer.kind === "stop" ? "stopped" : "running");
  agent.send({ type: "job.complete", jobId: offer.jobId, result: { kind: offer.kind } });
}

/** An agent's offer handler that completes every job at once (builds upload a stand-in image). */
export function completeEveryJob(url: string): (offer: TOffer, agent: FakeAgent) => Promise<void> {
  return async (offer, agent) => {
    if (offer.kind === "build") await completeBuild({ url, agent, offer });
    else if (offer.kind === "boot") completeBoot(agent, offer);
    else completeInstanceJob(agent, offer);
  };
}

/** `builds.create` over HTTP as `account`, with a fresh inline context of `contextBytes` random bytes. */
export async function createBuildOverHttp(opts: {
  url: string;
  chainId: number;
  account: Parameters<typeof signAction>[0];
  formfile: TFormfile;
  contextBytes?: number;
}) {
  const context = randomBytes(opts.contextBytes ?? 200);
  const digest = sha256Digest(context);
  return callTrpc({
    url: opts.url,
    path: "builds.create",
    type: "mutation",
    input: await signAction(opts.account, {
      action: "build.create",
      params: { formfile: opts.formfile, contextDigest: digest, contextBase64: context.toString("base64") },
      origin: TEST_CONSOLE_ORIGIN,
      chainId: opts.chainId,
      contentDigest: `0x${digest.slice(7)}`,
    }),
  });
}
