import { z } from "zod";

/**
 * Canonical JSON form of a Formfile: what the console stores, signs over and what the agent builds from.
 * Produced by `parseFormfile` (lib/formfile/parse.ts). Passwords appear only as SHA-512 crypt hashes.
 */

/** A Formfile ENV scope: `system`, `user:<name>` or `service:<name>`. */
export const ZEnvScope = z.string().regex(/^(system|user:[a-z_][a-z0-9_-]{0,31}|service:[A-Za-z0-9_.@-]+)$/);

export const ZFormfileUser = z.object({
  username: z.string(),
  /** SHA-512 crypt (`$6$salt$hash`) of the Formfile's `passwd`. */
  passwdHash: z.string(),
  sudo: z.boolean(),
  sshAuthorizedKeys: z.array(z.string()),
  lockPasswd: z.boolean(),
  shell: z.string(),
  sshPwauth: z.boolean(),
  disableRoot: z.boolean(),
  chpasswdExpire: z.boolean(),
  groups: z.array(z.string()),
});
export type TFormfileUser = z.infer<typeof ZFormfileUser>;

/** The USER options a Formfile may leave out, at the original's defaults (a fresh object each call). */
export function defaultUserOptions(): Omit<TFormfileUser, "username" | "passwdHash"> {
  return {
    sudo: false,
    sshAuthorizedKeys: [],
    lockPasswd: false,
    shell: "/bin/bash",
    sshPwauth: true,
    disableRoot: true,
    chpasswdExpire: true,
    groups: [],
  };
}

/** A USER with every option not given at its Formfile default (tests, seed data). */
export function formfileUser(
  user: Pick<TFormfileUser, "username" | "passwdHash"> & Partial<TFormfileUser>,
): TFormfileUser {
  return { ...defaultUserOptions(), ...user };
}

export const ZFormfileStep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("copy"), src: z.string(), dst: z.string(), line: z.number().int() }),
  z.object({ kind: z.literal("run"), command: z.string(), line: z.number().int() }),
  z.object({ kind: z.literal("install"), packages: z.array(z.string()), line: z.number().int() }),
]);
export type TFormfileStep = z.infer<typeof ZFormfileStep>;

const ZProbeTiming = {
  /** Port the probe connects to (HEALTHCHECK --port, else the first EXPOSEd port). */
  port: z.number().int(),
  intervalMs: z.number().int(),
  timeoutMs: z.number().int(),
  /** Consecutive failures that make a healthy replica unhealthy. */
  retries: z.number().int(),
  /** Failures during this time after boot do not count (the app is starting). */
  startPeriodMs: z.number().int(),
};

/**
 * HEALTHCHECK: how the edge decides a replica may get traffic. Absent from the canonical JSON when
 * the Formfile has no HEALTHCHECK (then a TCP connect to the first EXPOSEd port is the default), so
 * Formfiles written before the instruction existed keep their canonical form and build ids.
 */
export const ZHealthcheck = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("http"), path: z.string(), ...ZProbeTiming }),
  z.object({ kind: z.literal("tcp"), ...ZProbeTiming }),
  z.object({ kind: z.literal("none") }),
]);
export type THealthcheck = z.infer<typeof ZHealthcheck>;

export const ZFormfile = z.object({
  name: z.string(),
  description: z.string().nullable(),
  resources: z.object({
    vcpu: z.number().int(),
    memoryMb: z.number().int(),
    diskGb: z.number().int(),
    gpu: z.object({ model: z.string(), count: z.number().int() }).nullable(),
  }),
  users: z.array(ZFormfileUser),
  /** Absolute path; null when the Formfile has no WORKDIR (the builder then uses `/app`). */
  workdir: z.string().nullable(),
  /**
   * argv of the ENTRYPOINT service. The shell form is split quote-aware into argv
   * (`nginx -g "daemon off;"` → `["nginx", "-g", "daemon off;"]`); no shell is interposed.
   */
  entrypoint: z.array(z.string()).nullable(),
  expose: z.array(z.number().int()),
  env: z.array(z.object({ scope: ZEnvScope, key: z.string(), value: z.string() })),
  /** COPY / RUN / INSTALL in file order. No COPY at all means "whole context to WORKDIR". */
  steps: z.array(ZFormfileStep),
  healthcheck: ZHealthcheck.optional(),
});
export type TFormfile = z.infer<typeof ZFormfile>;
