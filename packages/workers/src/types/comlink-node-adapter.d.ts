// comlink 4.4.2 ships its Node adapter as an .mjs without a .d.mts beside it, so NodeNext
// resolution fails with TS7016 (docs/design/toolchain.md §6). This shim types the deep import.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { NodeEndpoint } from 'comlink/dist/umd/node-adapter.js';
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
