/** Lowercase form of a 0x address, the form the console stores and compares. */
export function lowerAddress(address: string): `0x${string}` {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new TypeError(`not an address: ${address}`);
  return `0x${address.slice(2).toLowerCase()}`;
}
