// The npm client (@ably/ai-transport 0.8.0, OpenAI Responses codec) against our hub and agent.
//
// Usage: node npm_client.mjs --host H --port P --key K --channel C --scenario S [--client alice]
//   scenarios: plain | cancel | steer | approval
//
// Prints JSON lines for pytest, which plays the agent in-process:
//   {"event":"invocation","invocation":{inputEventId,sessionName},"inputCodecMessageId":...}
//   {"event":"result","messages":[...],"runs":[...],"steer"?:{...}}      (this client's view)
//   {"event":"history","messages":[...],"runs":[...]}                    (a fresh client)
// Waits on SDK events, never on time; a global timeout guarantees the script exits.
import { parseArgs } from 'node:util';
import Ably from 'ably';
import { createClientSession } from '@ably/ai-transport';
import { ResponsesCodec } from '@ably/ai-transport/openai';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    key: { type: 'string' },
    channel: { type: 'string' },
    scenario: { type: 'string', default: 'plain' },
    client: { type: 'string', default: 'alice' },
  },
});

const TIMEOUT_MS = Number(process.env.NPM_CLIENT_TIMEOUT_MS || 20000);
const clients = [];

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

function fail(error) {
  emit({ event: 'error', error: String(error && error.stack ? error.stack : error) });
  process.exit(1);
}

setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

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

function userMessage(text) {
  return ResponsesCodec.createUserMessage({
    role: 'user',
    items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }],
  });
}

// Resolve when `check()` returns a truthy value, re-checking on every view update / run event.
function when(view, check) {
  return new Promise((resolve) => {
    const first = check();
    if (first) return resolve(first);
    const offs = [];
    const test = () => {
      const value = check();
      if (value) {
        offs.forEach((off) => off());
        resolve(value);
      }
    };
    offs.push(view.on('update', test), view.on('run', test));
  });
}

const TERMINAL = new Set(['complete', 'cancelled', 'error']);

function ended(view, runId) {
  return when(view, () => {
    const info = view.run(runId);
    return info && TERMINAL.has(info.status) ? info : undefined;
  });
}

function assistantText(view) {
  for (const { message } of view.getMessages()) {
    if (message.role !== 'assistant') continue;
    for (const item of message.items) {
      if (item.type === 'message' && item.content?.some((p) => p.text)) return true;
    }
  }
  return false;
}

function snapshot(view) {
  return {
    messages: view.getMessages(),
    runs: view.runs().map((r) => ({ ...r, error: r.error ? { code: r.error.code, message: r.error.message } : undefined })),
  };
}

async function main() {
  const session = await openSession(args.client);
  const view = session.view;
  const prompt = {
    plain: 'Hi there',
    cancel: 'Tell me a long story',
    steer: 'Write a story',
    approval: 'Delete my temp files',
  }[args.scenario];
  const run = await view.send(userMessage(prompt));
  emit({
    event: 'invocation',
    invocation: run.toInvocation().toJSON(),
    inputCodecMessageId: run.inputCodecMessageId,
  });
  await run.started;
  let steer;
  if (args.scenario === 'cancel') {
    await when(view, () => assistantText(view));
    await run.cancel();
  } else if (args.scenario === 'steer') {
    await when(view, () => assistantText(view));
    const result = run.steer(userMessage('Make it about mountains'));
    await result.published;
    steer = await result.outcome;
  } else if (args.scenario === 'approval') {
    const pending = await when(view, () => {
      if (view.run(run.runId)?.status !== 'suspended') return undefined;
      for (const { codecMessageId, message } of view.getMessages()) {
        for (const [callId, state] of Object.entries(message.toolCallStates || {})) {
          if (state.approval === 'pending') return { codecMessageId, callId };
        }
      }
      return undefined;
    });
    const approval = await view.send(
      ResponsesCodec.createToolApprovalResponse(pending.codecMessageId, {
        call_id: pending.callId,
        approved: true,
      }),
      { runId: run.runId },
    );
    emit({
      event: 'invocation',
      invocation: approval.toInvocation().toJSON(),
      inputCodecMessageId: approval.inputCodecMessageId,
    });
  }
  await ended(view, run.runId);
  emit({ event: 'result', runId: run.runId, steer, ...snapshot(view) });

  const late = await openSession('late');
  emit({ event: 'history', ...snapshot(late.view) });
  await Promise.all([session.close(), late.close()]);
  for (const client of clients) client.close();
  process.exit(0);
}

main().catch(fail);
