// Shared by the npm oracle scripts: JSON lines out, a global timeout so a script always exits,
// and ably-js clients / AI Transport client sessions pointed at our hub (session-protocol §8.2).
import Ably from 'ably';
import { createClientSession } from '@ably/ai-transport';
import { ResponsesCodec } from '@ably/ai-transport/openai';

export const TERMINAL = new Set(['complete', 'cancelled', 'error']);

export function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

export function fail(error) {
  emit({ event: 'error', error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
}

export function exitAfter(ms) {
  setTimeout(() => fail(`timed out after ${ms} ms`), ms).unref();
}

// Clients for the hub at args.host:args.port with args.key, on channel args.channel.
export function hubClients(args) {
  const clients = [];

  function realtime(clientId) {
    const client = new Ably.Realtime({
      key: args.key,
      clientId,
      endpoint: args.host,
      port: Number(args.port),
      tls: false,
      disableConnectivityCheck: true,
      logLevel: 0,
    });
    clients.push(client);
    return client;
  }

  async function openSession(clientId) {
    const session = createClientSession({
      client: realtime(clientId),
      channelName: args.channel,
      codec: ResponsesCodec,
    });
    await session.connect();
    while (session.view.hasOlder()) await session.view.loadOlder(10);
    return session;
  }

  return { clients, realtime, openSession };
}
