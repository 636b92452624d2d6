// The floor for any Node.js DNS server: a node:dgram socket that answers every query with one
// fixed A record (no lookup, no parsing beyond the header). bench/dns.sh runs it beside weft to
// show how much of weft's cost per query is Node's own per-datagram work.
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import process from 'node:process';

const [address = '127.0.0.4', port = '53'] = process.argv.slice(2);
const record = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x02, 0x58, 0, 4, 10, 77, 0, 2]);
const socket = dgram.createSocket({ type: 'udp4', lookup: (a, _o, cb) => cb(null, a, 4) });
socket.on('message', (msg, rinfo) => {
  const out = Buffer.allocUnsafe(msg.length + record.length);
  msg.copy(out);
  out[2] = 0x84 | (msg[2] & 0x01);
  out[3] = 0x80;
  out.writeUInt16BE(1, 6);
  out.writeUInt32BE(0, 8);
  record.copy(out, msg.length);
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(port), address);
