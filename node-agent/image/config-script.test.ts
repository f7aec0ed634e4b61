import { describe, expect, it } from "vitest";
import { parseFormfile } from "@/lib/formfile";
import { entrypointRunsNginx, epilogueScript } from "./config-script";

const epilogueOf = (entrypoint: string): string => {
  const parsed = parseFormfile(`NAME x\nUSER username:a passwd:b\n${entrypoint}\n`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return epilogueScript({ formfile: parsed.formfile, workdir: "/app" }).text();
};

describe("image configuration script", () => {
  it("yields the pre-installed nginx service to an ENTRYPOINT that runs nginx itself", () => {
    expect(entrypointRunsNginx(["nginx", "-g", "daemon off;"])).toBe(true);
    expect(entrypointRunsNginx(["/usr/sbin/nginx"])).toBe(true);
    expect(entrypointRunsNginx(["python3", "nginx"])).toBe(false);
    expect(entrypointRunsNginx(["nginx-proxy"])).toBe(false);
    expect(epilogueOf('ENTRYPOINT nginx -g "daemon off;"')).toContain(
      "multi-user.target.wants/nginx.service",
    );
    expect(epilogueOf('ENTRYPOINT ["python3", "server.py"]')).not.toContain("nginx.service");
  });
});
