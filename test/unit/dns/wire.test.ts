import { describe, expect, it } from 'vitest';
import { EDNS_UDP_SIZE, RCODE, TYPE, buildResponse, encodeRecord, errorResponse, parseQuery, queryName, reverseName, sameName, sizeLimit } from '../../../src/dns/wire.js';
import type { Query } from '../../../src/dns/wire.js';
import { decode, query } from '../../support/dns.js';

describe('DNS wire format', () => {
  it('parses a query: id, type, name (lower-cased on demand), EDNS size', () => {
    const q = parseQuery(query('Web.Example', TYPE.AAAA, { id: 4242, edns: 1400 })) as Query;
    expect(q).toMatchObject({ id: 4242, opcode: 0, rd: true, qtype: TYPE.AAAA, qclass: 1, edns: 1400 });
    expect(queryName(q)).toBe('web.example');
    const same = parseQuery(query('WEB.example', TYPE.AAAA)) as Query;
    expect(queryName(same)).toBe('web.example');
    // The cache key is the name as sent: another case is another entry, the same bytes the same one.
    expect(same.hash).not.toBe(q.hash);
    expect((parseQuery(query('Web.Example', TYPE.AAAA, { id: 1 })) as Query).hash).toBe(q.hash);
    expect((parseQuery(query('Web.Example', TYPE.A)) as Query).hash).not.toBe(q.hash);
    expect(sameName(same, Buffer.from('\u0003WEB\u0007example\u0000', 'latin1'))).toBe(true);
    expect(sameName(same, Buffer.from('\u0003web\u0007example\u0000', 'latin1'))).toBe(false);
    expect(same.edns).toBe(0);
  });

  it('drops responses and short messages; FORMERR for two questions or a pointer; NOTIMP for other opcodes', () => {
    expect(parseQuery(Buffer.alloc(5))).toEqual({ drop: true });
    const resp = query('a', TYPE.A);
    resp[2] = resp[2]! | 0x80;
    expect(parseQuery(resp)).toEqual({ drop: true });
    const two = query('a', TYPE.A);
    two.writeUInt16BE(2, 4);
    expect(parseQuery(two)).toMatchObject({ drop: false, rcode: RCODE.FORMERR });
    const ptr = Buffer.concat([query('a', TYPE.A).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(parseQuery(ptr)).toMatchObject({ drop: false, rcode: RCODE.FORMERR });
    const notify = query('a', TYPE.A);
    notify[2] = (4 << 3) | 1;
    expect(parseQuery(notify)).toMatchObject({ drop: false, rcode: RCODE.NOTIMP, opcode: 4 });
    const cut = query('abc', TYPE.A).subarray(0, 16);
    expect(parseQuery(cut)).toMatchObject({ drop: false, rcode: RCODE.FORMERR });
  });

  it('encodes records with dns2 so that they fit any response to the name (owner = pointer to the question)', () => {
    const rec = encodeRecord('c1', TYPE.A, { type: TYPE.A, address: '10.0.0.7' });
    expect([...rec]).toEqual([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x02, 0x58, 0, 4, 10, 0, 0, 7]);
    const msg = query('C1', TYPE.A, { id: 7 });
    const q = parseQuery(msg) as Query;
    const d = decode(buildResponse(msg, q, RCODE.NOERROR, rec, 1, 512));
    expect(d).toMatchObject({ id: 7, rcode: 0, tc: false, aa: true, answers: [{ name: 'C1', type: TYPE.A, ttl: 600, value: '10.0.0.7' }] });
  });

  it('truncates an answer that does not fit 512 bytes (no EDNS) and sets TC; TCP takes it whole', () => {
    const msg = query('many', TYPE.A);
    const q = parseQuery(msg) as Query;
    const recs = Array.from({ length: 40 }, (_, i) => encodeRecord('many', TYPE.A, { type: TYPE.A, address: `10.0.0.${i + 2}` }));
    const all = Buffer.concat(recs);
    const udp = decode(buildResponse(msg, q, RCODE.NOERROR, all, 40, sizeLimit(q, false)));
    expect(udp).toMatchObject({ tc: true, answers: [], questions: [{ name: 'many', type: TYPE.A }] });
    const tcp = decode(buildResponse(msg, q, RCODE.NOERROR, all, 40, sizeLimit(q, true)));
    expect(tcp.tc).toBe(false);
    expect(tcp.answers).toHaveLength(40);
  });

  it('answers EDNS queries with an OPT record and honours their size, up to its own', () => {
    const msg = query('many', TYPE.A, { edns: 4096 });
    const q = parseQuery(msg) as Query;
    expect(sizeLimit(q, false)).toBe(EDNS_UDP_SIZE);
    const recs = Buffer.concat(Array.from({ length: 40 }, (_, i) => encodeRecord('many', TYPE.A, { type: TYPE.A, address: `10.0.0.${i + 2}` })));
    const d = decode(buildResponse(msg, q, RCODE.NOERROR, recs, 40, sizeLimit(q, false)));
    expect(d.tc).toBe(false);
    expect(d.answers).toHaveLength(40);
    expect(d.additionals).toEqual([{ type: TYPE.OPT, class: EDNS_UDP_SIZE }]);
  });

  it('error responses keep the id and the question', () => {
    const msg = query('x', TYPE.A, { id: 99 });
    const q = parseQuery(msg) as Query;
    expect(decode(errorResponse(msg, q, RCODE.SERVFAIL, q))).toMatchObject({ id: 99, rcode: RCODE.SERVFAIL, questions: [{ name: 'x' }], answers: [] });
    const bare = decode(errorResponse(msg, { id: 5, opcode: 0, rd: true }, RCODE.FORMERR));
    expect(bare).toMatchObject({ id: 5, rcode: RCODE.FORMERR, questions: [] });
  });

  it('encodes PTR targets and reverse names for both families', () => {
    expect(reverseName('172.21.0.3')).toBe('3.0.21.172.in-addr.arpa');
    expect(reverseName('fd00:2::3')).toBe(`${[...'fd000002000000000000000000000003'].reverse().join('.')}.ip6.arpa`);
    expect(reverseName('2001:db8:1:2:3:4:5:6')).toBe(`${[...'20010db8000100020003000400050006'].reverse().join('.')}.ip6.arpa`);
    const rev = '3.0.21.172.in-addr.arpa';
    const msg = query(rev, TYPE.PTR);
    const q = parseQuery(msg) as Query;
    const d = decode(buildResponse(msg, q, 0, encodeRecord(rev, TYPE.PTR, { type: TYPE.PTR, domain: 'c3.isolated_nw' }), 1, 512));
    expect(d.answers).toEqual([{ name: rev, type: TYPE.PTR, ttl: 600, value: 'c3.isolated_nw' }]);
  });
});
