import { z } from "zod";

// zod compiles object parsers with `new Function` when it may; it finds out by trying, which the
// console's CSP (no 'unsafe-eval', see server/http/security-headers.ts) reports as a violation.
// This file runs before the app's modules build their schemas, so none ever tries.
z.config({ jitless: true });
