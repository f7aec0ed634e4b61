import type { TFormfileStep, TFormfileUser } from "./canonical";
import type { TDiagnostic, TPosition } from "./diagnostics";
import type { TLogicalLine, TToken } from "./lexer";

/** Where the single-valued instructions sit in the source, for policy errors and editor tooling. */
export type TFormfileLocations = Partial<
  Record<
    "name" | "description" | "vcpu" | "memoryMb" | "diskGb" | "gpu" | "workdir" | "entrypoint",
    TPosition
  >
> & {
  users: Record<string, TPosition>;
  /** Position of each COPY source, in the order of the COPY steps. */
  copySources: TPosition[];
};

/** A parsed HEALTHCHECK before its default port (the first EXPOSE) is known. */
export type TPendingHealthcheck = {
  kind: "http" | "tcp" | "none";
  path?: string;
  port?: number;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  /** The HEALTHCHECK keyword, for errors about the instruction as a whole. */
  position: TPosition;
};

export type TPendingUser = { user: Omit<TFormfileUser, "passwdHash">; passwd: string; position: TPosition };

/** Everything collected while walking the instructions; turned into a TFormfile once error-free. */
export type TParseState = {
  name?: string;
  description?: string;
  vcpu?: number;
  memoryMb?: number;
  diskGb?: number;
  gpu?: { model: string; count: number };
  users: TPendingUser[];
  workdir?: string;
  entrypoint?: string[];
  expose: number[];
  /** `position` is the KEY=value token; `scopePosition` the scope's name (for unknown-user errors). */
  env: Array<{ scope: string; key: string; value: string; position: TPosition; scopePosition: TPosition }>;
  steps: TFormfileStep[];
  healthcheck?: TPendingHealthcheck;
  /** Canonical keyword of each once-only instruction → the line it first appeared on. */
  seen: Map<string, number>;
  locations: TFormfileLocations;
  errors: TDiagnostic[];
  warnings: TDiagnostic[];
};

/** What an instruction handler gets: its logical line, argument offset and reporting helpers. */
export type TInstructionContext = {
  keyword: string;
  line: TLogicalLine;
  /** Offset in `line.text` where the arguments start (after the keyword and its whitespace). */
  argsOffset: number;
  /** Offset of the keyword itself, for errors about the instruction as a whole. */
  keywordOffset: number;
  state: TParseState;
  error: (offset: number, message: string, hint?: string) => void;
  warn: (offset: number, message: string, hint?: string) => void;
  /** Quote-aware tokens of the arguments, or undefined after reporting an unterminated quote. */
  tokens: () => TToken[] | undefined;
};

/** An empty parse state. */
export function newState(): TParseState {
  return {
    users: [],
    expose: [],
    env: [],
    steps: [],
    seen: new Map(),
    locations: { users: {}, copySources: [] },
    errors: [],
    warnings: [],
  };
}
