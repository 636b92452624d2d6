/* global console, process */
// Watches the membership store through weft's own API (the built dist/) and prints one line per
// event: "put <key>" or "delete <key>". Run inside a namespace that reaches the store:
//   ip netns exec NS node test/support/store-watch.mjs etcd://HOST:PORT   (or zk://HOST:PORT)
import { openStoreUrl } from '../../dist/store/index.js';

const log = { info() {}, debug() {}, warn: (o, m) => console.error(m, o), error: (o, m) => console.error(m, o) };
const store = await openStoreUrl(process.argv[2], log);
const stop = await store.watch((e) => console.log(`${e.type} ${e.key}`));
console.log('watching');
process.on('SIGTERM', async () => {
  await stop();
  await store.close();
  process.exit(0);
});
