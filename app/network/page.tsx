"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { SessionGate } from "../_components/session-gate";
import { Badge, Card, EmptyState, ErrorState, ListSkeleton, Mono, PageHeader, Stat } from "../_components/ui";
import { shortAddress, shortId } from "../_lib/format";
import { useTRPC } from "../_lib/trpc";

const KIND_TONE = { node: "blue", instance: "green", user: "amber", console: "gray" } as const;

function refLink(kind: "node" | "instance" | "user" | "console", ref: string) {
  if (kind === "node")
    return (
      <Link href={`/nodes/${ref}`} className="hover:underline">
        {shortId(ref, 16)}
      </Link>
    );
  if (kind === "instance")
    return (
      <Link href={`/instances/${ref}`} className="hover:underline">
        {ref}
      </Link>
    );
  return shortAddress(ref.split(":")[0] ?? ref);
}

/**
 * Relayed (through the console, because neither side can be dialled directly) when the relay
 * carried packets between one of your devices and this peer in the last minute; otherwise direct,
 * or not in use. `form manage formnet-status` on the device shows its own view with RTTs.
 */
function PeerPath({ relayed }: { relayed: { device: string; lastAt: string }[] }) {
  if (relayed.length === 0) return <span className="text-slate-500">direct or idle</span>;
  return (
    <span className="space-x-1">
      {relayed.map((r) => (
        <span key={r.device} title={`last relayed packet ${new Date(r.lastAt).toLocaleTimeString()}`}>
          <Badge tone="amber">relayed</Badge> <span className="font-mono">{r.device}</span>
        </span>
      ))}
    </span>
  );
}

function Formnet() {
  const trpc = useTRPC();
  const status = useQuery(trpc.formnet.status.queryOptions(undefined, { refetchInterval: 10_000 }));
  const peers = useQuery(trpc.formnet.peers.queryOptions(undefined, { refetchInterval: 10_000 }));
  if (peers.isLoading || status.isLoading) return <ListSkeleton rows={4} />;
  if (peers.error) return <ErrorState error={peers.error} what="formnet peers" />;
  const list = peers.data ?? [];
  const count = (k: string) => list.filter((p) => p.kind === k).length;
  const deviceIp = new Map((status.data?.devices ?? []).map((d) => [d.publicKey, d.ip]));
  const relayedWith = (peerKey: string) =>
    (status.data?.relayed ?? []).filter((r) => r.peerPublicKey === peerKey);
  return (
    <div className="space-y-6">
      <div className="grid grid-cols-2 gap-3 sm:grid-cols-4">
        <Stat
          label="Address block"
          value={<span className="font-mono text-lg">{status.data?.cidr ?? "—"}</span>}
        />
        <Stat label="Nodes" value={count("node")} />
        <Stat label="Instances" value={count("instance")} />
        <Stat label="Devices" value={count("user")} />
      </div>
      <Card title="Your devices">
        {status.data?.devices.length ? (
          <ul className="space-y-1 text-sm">
            {status.data.devices.map((d) => (
              <li key={d.ip}>
                <Mono>{d.ip}</Mono>{" "}
                <span className="text-slate-500">· key {d.publicKey ? shortId(d.publicKey, 10) : "—"}</span>
              </li>
            ))}
          </ul>
        ) : (
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Your laptop is not on formnet yet. Run <code>form manage join</code> then{" "}
            <code>form manage formnet-up</code> to reach your instances&apos; private addresses.
          </p>
        )}
      </Card>
      <Card title="Peers">
        {list.length === 0 ? (
          <EmptyState title="No peers yet">
            The first node agent to connect creates formnet and joins it.
          </EmptyState>
        ) : (
          <div className="overflow-x-auto">
            <table className="w-full min-w-[32rem] text-sm" data-testid="peers-table">
              <thead className="text-left text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th className="py-2 pr-4 font-medium">IP</th>
                  <th className="py-2 pr-4 font-medium">Kind</th>
                  <th className="py-2 pr-4 font-medium">Member</th>
                  <th className="py-2 pr-4 font-medium">Endpoints</th>
                  <th className="py-2 pr-4 font-medium" title="How your devices reach this peer now">
                    Path from your devices
                  </th>
                  <th className="py-2 font-medium">Public key</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-200 dark:divide-slate-800">
                {list.map((p) => (
                  <tr key={p.publicKey}>
                    <td className="py-2 pr-4">
                      <Mono>{p.ip}</Mono>
                    </td>
                    <td className="py-2 pr-4">
                      <Badge tone={KIND_TONE[p.kind]}>{p.kind}</Badge>
                    </td>
                    <td className="py-2 pr-4 font-mono text-xs">{refLink(p.kind, p.ref)}</td>
                    <td className="py-2 pr-4 font-mono text-xs">{p.endpoints.join(", ") || "—"}</td>
                    <td className="py-2 pr-4 text-xs" data-testid="peer-path">
                      <PeerPath
                        relayed={relayedWith(p.publicKey).map((r) => ({
                          device: deviceIp.get(r.devicePublicKey) ?? shortId(r.devicePublicKey, 10),
                          lastAt: r.lastAt,
                        }))}
                      />
                    </td>
                    <td className="py-2">
                      <Mono title={p.publicKey}>{shortId(p.publicKey, 10)}</Mono>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </div>
  );
}

export default function NetworkPage() {
  return (
    <>
      <PageHeader
        title="Network"
        description="formnet: the WireGuard mesh joining nodes, instances and your devices."
      />
      <SessionGate what="formnet peers">
        <Formnet />
      </SessionGate>
    </>
  );
}
