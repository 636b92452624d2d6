/* global Buffer */
// One DNS query on the wire (A, class IN, recursion desired), for the load and latency scripts
// that run as plain Node inside a namespace (no build, no TypeScript).

/** An A query for `name` with message id `id` (taken modulo 2^16). */
export function aQuery(name, id) {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, 'latin1')]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header[2] = 0x01; // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}
