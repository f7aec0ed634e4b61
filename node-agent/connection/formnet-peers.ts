// A node's WireGuard peers from the console's `formnet.peers` push (the shared rule lives in lib).
export { wireguardPeersFrom } from "@/lib/formnet/wireguard-peers";
