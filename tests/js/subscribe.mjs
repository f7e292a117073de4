// Subscribes to popChanged with the real npm clients a front end would use, graphql-ws over
// WebSocket and graphql-sse over Server-Sent Events, both at once, and prints what each received.
//
// usage: node subscribe.mjs BASE TOKEN POP_ID AFTER_SEQUENCE COUNT
// Prints one JSON line, {"ws": [[sequence, hash], ...], "sse": [...]}, once each client has
// received COUNT events (or exits 1 with the error of the first client that failed).
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';

const [base, token, popId, after, count] = process.argv.slice(2);
// A missed event fails the test instead of hanging it.
setTimeout(() => {
  console.error('timed out waiting for events');
  process.exit(1);
}, 60_000).unref();
const wanted = Number(count);
const request = {
  query: `subscription($popId: ID!, $after: Int) {
    popChanged(popId: $popId, afterSequence: $after) { kind sequence integrityHash }
  }`,
  variables: { popId, after: Number(after) },
};

/** The first `wanted` events of `client`'s subscription, as [sequence, hash]. */
async function collect(client) {
  const events = [];
  for await (const result of client.iterate(request)) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    const event = result.data.popChanged;
    if (event.kind !== 'CHANGE') throw new Error(`unexpected ${JSON.stringify(event)}`);
    events.push([event.sequence, event.integrityHash]);
    if (events.length === wanted) break;
  }
  return events;
}

const ws = createWsClient({
  url: `${base.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
const sse = createSseClient({
  url: `${base}/graphql`,
  headers: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});

try {
  const [wsEvents, sseEvents] = await Promise.all([collect(ws), collect(sse)]);
  console.log(JSON.stringify({ ws: wsEvents, sse: sseEvents }));
} catch (error) {
  console.error(error instanceof Error ? error.stack : JSON.stringify(error));
  process.exitCode = 1;
} finally {
  await ws.dispose();
  sse.dispose();
}
