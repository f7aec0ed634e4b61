import { ContextError } from "./errors";

/** Checks that no entry lies beneath a symlink and every link resolves inside without crossing another. */
export function checkLinks(state: { paths: string[]; links: Array<{ path: string; target: string }> }): void {
  const linkPaths = new Set(state.links.map((l) => l.path));
  for (const path of state.paths) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const ancestor = parts.slice(0, i).join("/");
      if (linkPaths.has(ancestor)) {
        throw new ContextError("UNSAFE_PATH", `archive entry ${path} lies beneath symlink ${ancestor}`, {
          path,
        });
      }
    }
  }
  for (const { path, target } of state.links) {
    const escapeError = (why: string): ContextError =>
      new ContextError("SYMLINK_ESCAPE", `archive symlink ${path} → ${target} ${why}`, { path });
    if (target === "" || target.startsWith("/") || target.includes("\0"))
      throw escapeError("is absolute or empty");
    const stack = path.split("/").slice(0, -1);
    const steps = target.split("/").filter((p) => p !== "" && p !== ".");
    steps.forEach((step, i) => {
      if (step === "..") {
        if (stack.length === 0) throw escapeError("points outside the context");
        stack.pop();
      } else {
        stack.push(step);
        if (i < steps.length - 1 && linkPaths.has(stack.join("/")))
          throw escapeError("passes through another symlink");
      }
    });
  }
}
