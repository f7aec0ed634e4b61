import { request } from "node:http";
import { peerBlobUrl, type TBlobPeer, type TDigest } from "@/lib/protocol";

/** How long a holder has to answer the HEAD that ranks it. */
export const RANK_TIMEOUT_MS = 3_000;

/**
 * Asks every holder at once whether it has the blob (`HEAD`, from this node's formnet address) and
 * returns those that do — 200 with the blob's size — nearest first (by how fast they answered).
 * A holder that answers anything else, is unreachable or slower than RANK_TIMEOUT_MS is left out
 * and said to `onPeerProblem`, so that no piece waits on it.
 */
export async function rankPeers(o: {
  peers: readonly TBlobPeer[];
  digest: TDigest;
  sizeBytes: number;
  localAddress: string;
  signal?: AbortSignal;
  onPeerProblem?: (peer: string, problem: string) => void;
}): Promise<TBlobPeer[]> {
  const answers = await Promise.all(
    o.peers.map(async (peer) => {
      const t0 = performance.now();
      const problem = await head(peerBlobUrl(peer.formnetIp, o.digest), o);
      if (problem !== null) o.onPeerProblem?.(`node ${peer.nodeId}`, problem);
      return { peer, ms: performance.now() - t0, ok: problem === null };
    }),
  );
  return answers
    .filter((a) => a.ok)
    .sort((a, b) => a.ms - b.ms)
    .map((a) => a.peer);
}

/** Null when the peer holds the blob; otherwise what it said. */
function head(
  url: string,
  o: { sizeBytes: number; localAddress: string; signal?: AbortSignal },
): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: "HEAD",
      localAddress: o.localAddress,
      signal: o.signal,
      timeout: RANK_TIMEOUT_MS,
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(`no answer for ${RANK_TIMEOUT_MS / 1000} s`);
    });
    req.on("error", (error) => resolve(`unreachable (${error.message})`));
    req.on("response", (res) => {
      res.resume();
      const size = Number(res.headers["content-length"]);
      if (res.statusCode !== 200) resolve(`answered ${res.statusCode ?? "?"}`);
      else if (size !== o.sizeBytes) resolve(`holds ${size} bytes, not ${o.sizeBytes}`);
      else resolve(null);
    });
    req.end();
  });
}
