import { readContextFile } from "@/core/context/read-file";
import type { Logger } from "@/core/log";
import type { TFormfile } from "@/lib/formfile/canonical";
import { checkPolicy, type TNetworkPolicy } from "@/lib/formfile/policy";
import { MAX_FORMFILE_BYTES } from "@/lib/formfile/text";
import { validateCanonicalFormfile } from "@/lib/formfile/validate-canonical";
import { computeBuildId as computeContentBuildId } from "@/lib/ids";
import { agentContextPath, type TJobResult } from "@/lib/protocol";
import { ACTIVE_BUILD_STATUSES, isActiveBuild, type TBuildStatus } from "@/lib/status";
import type { TBuildRow, TBuildsRepository } from "@/server/db/repositories/builds-repository";
import { AppError } from "@/server/errors";
import type { BlobStore } from "@/server/services/blobs/blob-store";
import type { ContextUploads } from "@/server/services/blobs/context-uploads";
import type { JobService } from "@/server/services/jobs/job-service";
import type { TJobEvent } from "@/server/services/jobs/types";
import type { Scheduler } from "@/server/services/scheduler/scheduler";
import { type TAppUrlSource, type TBuildDto, toBuildDto } from "./build-dto";

export type TBuildDeadlines = {
  /** Longest wait for an agent to take the build. */
  queuedMs: number;
  /** Longest wait between an offer and the agent starting. */
  claimedMs: number;
  /** Longest build. */
  buildingMs: number;
};

export type TBuildServiceOptions = {
  builds: TBuildsRepository;
  jobs: JobService;
  /** Says why a queued build waits. */
  scheduler: Scheduler;
  blobs: BlobStore;
  /** Context blobs with owners: a build may only use a context its owner uploaded. */
  contexts: ContextUploads;
  policy: TNetworkPolicy;
  maxContextBytes: number;
  maxImageBytes: number;
  deadlines: TBuildDeadlines;
  log: Logger;
  now?: () => Date;
  /** The apps' URLs through the edge (none without ingress). */
  appUrls?: TAppUrlSource;
};

/**
 * Content-addressed build id (lib/ids): the same owner, Formfile and context always give the same
 * build. The console's ids are the 64 hex digits without `0x`.
 */
export function computeBuildId(opts: { owner: string; formfile: TFormfile; contextDigest: string }): string {
  return computeContentBuildId(opts).slice(2);
}

/** Builds: validate, store the context, queue a build job, follow it through its phases. */
export class BuildService {
  readonly #o: TBuildServiceOptions;
  readonly #now: () => Date;
  /**
   * The console's SSH user CA public key, set by the terminal module; carried in every build job
   * so each image trusts the console's short-lived terminal certificates.
   */
  sshCaPublicKey: string | undefined;

  constructor(options: TBuildServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    options.jobs.onEvent((event) => this.#onJobEvent(event));
  }

  #in(ms: number): Date {
    return new Date(this.#now().getTime() + ms);
  }

  /**
   * Accepts a build: the Formfile must satisfy the network policy, the context its signed digest
   * and the size limit. Re-submitting an identical build returns the existing one unless it
   * failed or was cancelled, in which case it is queued again.
   */
  async create(input: {
    owner: string;
    formfile: TFormfile;
    /** The context bytes, or null when it was uploaded beforehand (PUT /api/contexts/<digest>). */
    context: Uint8Array | null;
    contextDigest: string;
  }): Promise<TBuildDto> {
    const owner = input.owner.toLowerCase();
    const context = input.context;
    // The canonical form comes from an untrusted client: re-check every rule of the language before
    // anything is stored or an agent builds from it as root.
    const canonical = validateCanonicalFormfile(input.formfile);
    if (!canonical.ok) {
      const text = canonical.issues.map((i) => `${i.path} ${i.message}`).join("; ");
      throw new AppError(
        "BAD_REQUEST",
        `Invalid Formfile: ${text}. Validate it with \`form pack validate\`.`,
        {
          details: { issues: canonical.issues },
        },
      );
    }
    const violations = checkPolicy(input.formfile, this.#o.policy);
    if (violations.length > 0) {
      const text = violations
        .map((v) => `line ${v.line}: ${v.message}${v.hint ? ` (${v.hint})` : ""}`)
        .join("; ");
      throw new AppError("BAD_REQUEST", `Formfile violates the ${this.#o.policy.name} policy: ${text}`, {
        details: { diagnostics: violations },
      });
    }
    const stored = await this.#storeContext({ owner, context, digest: input.contextDigest });
    const buildId = computeBuildId({ owner, formfile: input.formfile, contextDigest: stored.digest });
    const existing = await this.#o.builds.find(buildId);
    if (existing && existing.status !== "failed" && existing.status !== "cancelled")
      return this.#dto(existing);
    const attempt = existing ? `retry-${this.#now().getTime()}` : "first";
    const job = await this.#o.jobs.enqueue({
      kind: "build",
      payload: {
        buildId,
        formfile: input.formfile,
        contextUrl: agentContextPath(stored.digest),
        contextDigest: stored.digest,
        contextSizeBytes: stored.size,
        ...(this.sshCaPublicKey ? { sshCaPublicKey: this.sshCaPublicKey } : {}),
      },
      nodeId: null,
      owner,
      idempotencyKey: `build:${buildId}:${attempt}`,
      buildId,
      maxAttempts: 3,
    });
    const row = await this.#o.builds.createOrReset({
      id: buildId,
      owner,
      name: input.formfile.name,
      formfile: JSON.stringify(input.formfile),
      contextDigest: stored.digest,
      contextSizeBytes: stored.size,
      jobId: job.id,
      deadline: this.#in(this.#o.deadlines.queuedMs),
      now: this.#now(),
    });
    this.#o.log.info({ buildId, owner, name: input.formfile.name, jobId: job.id }, "build queued");
    return this.#dto(row);
  }

  /**
   * `build.create` as signed: the signature's `contentDigest` must be the context's SHA-256 (so the
   * request pins the exact context bytes); small contexts ride inline as base64.
   */
  async createSigned(input: {
    owner: string;
    formfile: TFormfile;
    contextDigest: string;
    contextBase64?: string | undefined;
    /** The `contentDigest` the owner signed. */
    signedContentDigest: string;
  }): Promise<TBuildDto> {
    if (input.signedContentDigest !== `0x${input.contextDigest.slice("sha256:".length)}`) {
      throw new AppError(
        "BAD_REQUEST",
        "the signature's contentDigest must be the SHA-256 of the build context",
      );
    }
    return this.create({
      owner: input.owner,
      formfile: input.formfile,
      context: input.contextBase64 ? new Uint8Array(Buffer.from(input.contextBase64, "base64")) : null,
      contextDigest: input.contextDigest,
    });
  }

  /**
   * The build's context: stored now (inline bytes) or uploaded earlier BY THE SAME OWNER. A digest
   * alone proves nothing (it shows up in logs and UIs), so another user's context answers exactly
   * like a missing one and its existence is not revealed.
   */
  async #storeContext(opts: {
    owner: string;
    context: Uint8Array | null;
    digest: string;
  }): Promise<{ digest: string; size: number }> {
    const { owner, context, digest } = opts;
    if (context === null) {
      const size = await this.#o.contexts.ownedSize({ owner, digest });
      if (size === null) {
        throw new AppError(
          "NOT_FOUND",
          `context ${digest} not found among your uploads: PUT it to /api/contexts/${digest} first, signed in as the account that creates the build`,
        );
      }
      return { digest, size };
    }
    if (context.byteLength > this.#o.maxContextBytes) {
      throw new AppError(
        "PAYLOAD_TOO_LARGE",
        `build context is ${context.byteLength} bytes; the limit is ${this.#o.maxContextBytes}. Add a .formignore or COPY less.`,
      );
    }
    return this.#o.contexts.putBytes({ owner, bytes: context, digest });
  }

  /** Builds as clients see them; queued ones say why they wait (one scheduler pass for all). */
  async #dtos(rows: readonly TBuildRow[]): Promise<TBuildDto[]> {
    const queued = rows.flatMap((r) => (r.status === "queued" && r.jobId ? [r.jobId] : []));
    const reasons =
      queued.length > 0 ? await this.#o.scheduler.waitReasons(await this.#o.jobs.find(queued)) : null;
    return rows.map((r) => toBuildDto(r, (r.jobId && reasons?.get(r.jobId)) || null, this.#o.appUrls));
  }

  async #dto(row: TBuildRow): Promise<TBuildDto> {
    const [dto] = await this.#dtos([row]);
    if (!dto) throw new AppError("INTERNAL", `build ${row.id} has no DTO`);
    return dto;
  }

  /** A build the caller may see (owner, or any build for admins), as clients see it. */
  async view(opts: { buildId: string; viewer: string; admin: boolean }): Promise<TBuildDto> {
    return this.#dto(await this.get(opts));
  }

  /**
   * Log lines after cursor `after` (0 = from the start) with the next cursor; `done` turns true once
   * the build is no longer being built and every line was returned.
   */
  async logsPage(opts: { buildId: string; viewer: string; admin: boolean; after: number; limit: number }) {
    const row = await this.get(opts);
    const lines = await this.#o.builds.logsAfter({ buildId: row.id, after: opts.after, limit: opts.limit });
    return {
      lines: lines.map((l) => ({ id: l.id, at: l.at, line: l.line })),
      cursor: lines.at(-1)?.id ?? opts.after,
      status: row.status,
      done: !isActiveBuild(row.status) && lines.length < opts.limit,
    };
  }

  /** Reads a build the caller may see (owner, or any build for admins). */
  async get(opts: { buildId: string; viewer: string; admin: boolean }): Promise<TBuildRow> {
    const row = await this.#o.builds.find(opts.buildId);
    if (!row || (!opts.admin && row.owner !== opts.viewer.toLowerCase())) {
      throw new AppError("NOT_FOUND", `No build ${opts.buildId} visible to ${opts.viewer}`);
    }
    return row;
  }

  /**
   * The Formfile text a build was made from, read back out of its context (the browser and the
   * CLI pack it there), for "deploy again". Null when the context has none or is gone.
   */
  async formfileSource(opts: { buildId: string; viewer: string; admin: boolean }): Promise<string | null> {
    const row = await this.get(opts);
    if ((await this.#o.blobs.size(row.contextDigest)) === null) return null;
    try {
      const bytes = await readContextFile({
        tarGz: this.#o.blobs.pathOf(row.contextDigest),
        path: "Formfile",
        maxBytes: MAX_FORMFILE_BYTES,
      });
      return bytes ? new TextDecoder().decode(bytes) : null;
    } catch (cause) {
      this.#o.log.warn({ buildId: row.id, err: cause }, "could not read the Formfile back from the context");
      return null;
    }
  }

  async list(opts: { owner: string | null; limit: number }): Promise<TBuildDto[]> {
    const rows = await this.#o.builds.list({
      ...(opts.owner ? { owner: opts.owner.toLowerCase() } : {}),
      limit: opts.limit,
    });
    return this.#dtos(rows);
  }

  async logs(opts: { buildId: string; after: number; limit: number }) {
    return this.#o.builds.logsAfter(opts);
  }

  /** Cancels a build that has not finished; the agent building it is told to stop. */
  async cancel(opts: { buildId: string; owner: string }): Promise<TBuildDto> {
    const row = await this.get({ buildId: opts.buildId, viewer: opts.owner, admin: false });
    if (!isActiveBuild(row.status)) {
      throw new AppError(
        "PRECONDITION_FAILED",
        `build ${row.id} is ${row.status}; only unfinished builds can be cancelled`,
      );
    }
    await this.#fail({ row, to: "cancelled", reason: "cancelled by the owner" });
    return this.#dto((await this.#o.builds.find(row.id)) ?? row);
  }

  async #fail(opts: {
    row: TBuildRow;
    to: "failed" | "cancelled";
    reason: string;
    line?: number;
  }): Promise<void> {
    const moved = await this.#o.builds.transition({
      id: opts.row.id,
      from: ACTIVE_BUILD_STATUSES,
      to: opts.to,
      at: this.#now(),
      message: opts.reason,
      deadline: null,
      set: { failureReason: opts.reason, failureLine: opts.line ?? null },
    });
    if (moved && opts.row.jobId) await this.#o.jobs.cancel(opts.row.jobId, opts.reason);
  }

  /** Fails builds that overstayed a phase, naming the phase and its limit. */
  async sweepDeadlines(): Promise<number> {
    let failed = 0;
    for (const row of await this.#o.builds.overdue(this.#now())) {
      const limits: Record<string, [number, string]> = {
        queued: [this.#o.deadlines.queuedMs, "no node agent with a free build slot took the build"],
        claimed: [this.#o.deadlines.claimedMs, "the node that was offered the build did not start it"],
        building: [this.#o.deadlines.buildingMs, "the build did not finish"],
      };
      const [ms, what] = limits[row.status] ?? [0, "phase overran"];
      const reason = `${what} within ${ms / 1000} s (phase ${row.status})`;
      await this.#fail({ row, to: "failed", reason });
      this.#o.log.warn({ buildId: row.id }, `build failed: ${reason}`);
      failed++;
    }
    return failed;
  }

  /** Records a deployment phase of a built image (distributing → booting → running). */
  async deployPhase(buildId: string, phase: "distributing" | "booting" | "running"): Promise<void> {
    const from: Record<typeof phase, TBuildStatus[]> = {
      distributing: ["built", "running", "booting"],
      booting: ["distributing"],
      running: ["distributing", "booting"],
    };
    await this.#o.builds.transition({
      id: buildId,
      from: from[phase],
      to: phase,
      at: this.#now(),
      deadline: null,
    });
  }

  async #onJobEvent(event: TJobEvent): Promise<void> {
    const buildId = event.job.buildId;
    if (event.job.kind !== "build" || !buildId) return;
    const at = this.#now();
    const d = this.#o.deadlines;
    switch (event.type) {
      case "leased":
        await this.#o.builds.transition({
          id: buildId,
          from: ["queued"],
          to: "claimed",
          at,
          message: `offered to node ${event.nodeId}`,
          deadline: this.#in(d.claimedMs),
          set: { nodeId: event.nodeId },
        });
        return;
      case "running":
        await this.#o.builds.transition({
          id: buildId,
          from: ["claimed"],
          to: "building",
          at,
          deadline: this.#in(d.buildingMs),
        });
        return;
      case "progress":
        await this.#o.builds.appendLogs({
          buildId,
          at,
          lines: [`» ${event.phase}${event.message ? `: ${event.message}` : ""}`],
        });
        return;
      case "log":
        await this.#o.builds.appendLogs({ buildId, at, lines: event.lines });
        return;
      case "requeued":
        await this.#o.builds.transition({
          id: buildId,
          from: ["claimed", "building"],
          to: "queued",
          at,
          message: event.reason,
          deadline: this.#in(d.queuedMs),
        });
        return;
      case "completed":
        await this.#completed(buildId, event.result);
        return;
      case "failed":
      case "cancelled": {
        const row = await this.#o.builds.find(buildId);
        if (!row) return;
        const to = event.type === "failed" ? "failed" : "cancelled";
        await this.#o.builds.transition({
          id: buildId,
          from: ACTIVE_BUILD_STATUSES,
          to,
          at,
          message: event.reason,
          deadline: null,
          set: {
            failureReason: event.reason,
            failureLine: event.type === "failed" ? (event.line ?? null) : null,
          },
        });
        return;
      }
    }
  }

  async #completed(buildId: string, result: TJobResult): Promise<void> {
    if (result.kind !== "build") return;
    const size = await this.#o.blobs.size(result.imageDigest);
    const baseSize = result.baseDigest === undefined ? 0 : await this.#o.blobs.size(result.baseDigest);
    const at = this.#now();
    if (size === null || size !== result.sizeBytes || baseSize === null) {
      const reason =
        baseSize === null
          ? `agent reported image ${result.imageDigest} over base ${result.baseDigest} but the console holds no such base: upload incomplete`
          : `agent reported image ${result.imageDigest} (${result.sizeBytes} bytes) but the console holds ${size === null ? "no such image" : `${size} bytes`}: upload incomplete`;
      await this.#o.builds.transition({
        id: buildId,
        from: ACTIVE_BUILD_STATUSES,
        to: "failed",
        at,
        message: reason,
        deadline: null,
        set: { failureReason: reason },
      });
      return;
    }
    await this.#o.builds.transition({
      id: buildId,
      from: ACTIVE_BUILD_STATUSES,
      to: "built",
      at,
      deadline: null,
      set: {
        imageDigest: result.imageDigest,
        imageSizeBytes: result.sizeBytes,
        baseDigest: result.baseDigest ?? null,
      },
    });
    this.#o.log.info({ buildId, imageDigest: result.imageDigest }, "build finished");
  }
}
