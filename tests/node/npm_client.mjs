// The npm client (@ably/ai-transport 0.8.0, OpenAI Responses codec) against our hub and agent.
//
// Usage: node npm_client.mjs --host H --port P --key K --channel C --scenario S [--client alice]
//   scenarios: plain | cancel | steer | approval | edit | regenerate
//   --agent-url U: also POST each invocation to U/api/chat itself (to drive the npm agent)
//
// Prints JSON lines for pytest, which plays the agent in-process:
//   {"event":"invocation","invocation":{inputEventId,sessionName},"inputCodecMessageId":...}
//   {"event":"result","messages":[...],"runs":[...],"steer"?:{...}}      (this client's view)
//   {"event":"history","messages":[...],"runs":[...]}                    (a fresh client)
// Waits on SDK events, never on time; a global timeout guarantees the script exits.
import { parseArgs } from 'node:util';
import { ResponsesCodec } from '@ably/ai-transport/openai';
import { TERMINAL, emit, exitAfter, fail, hubClients } from './oracle.mjs';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    key: { type: 'string' },
    channel: { type: 'string' },
    scenario: { type: 'string', default: 'plain' },
    client: { type: 'string', default: 'alice' },
    'agent-url': { type: 'string', default: '' },
  },
});

const TIMEOUT_MS = Number(process.env.NPM_CLIENT_TIMEOUT_MS || 20000);
const { clients, realtime, openSession } = hubClients(args);
exitAfter(TIMEOUT_MS);

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
    branches: view.getMessages().map(({ codecMessageId }) => {
      const branch = view.branchSelection(codecMessageId);
      return { codecMessageId, index: branch.index, count: branch.siblings.length };
    }),
  };
}

// Emit the invocation for pytest (which may play the agent), and POST it when --agent-url is set.
async function invoke(run) {
  const invocation = run.toInvocation().toJSON();
  emit({ event: 'invocation', invocation, inputCodecMessageId: run.inputCodecMessageId });
  if (!args['agent-url']) return;
  const response = await fetch(`${args['agent-url']}/api/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(invocation),
  });
  if (!response.ok) throw new Error(`POST failed: ${response.status} ${await response.text()}`);
}

function lastAssistant(view) {
  const messages = view.getMessages().filter(({ message }) => message.role === 'assistant');
  return messages[messages.length - 1]?.codecMessageId;
}

async function main() {
  const session = await openSession(args.client);
  const view = session.view;
  const prompt = {
    plain: 'Hi there',
    cancel: 'Tell me a long story',
    steer: 'Write a story',
    approval: 'Delete my temp files',
    edit: 'Hi there',
    regenerate: 'Hi there',
  }[args.scenario];
  const run = await view.send(userMessage(prompt));
  await invoke(run);
  await run.started;
  let steer;
  let last = run;
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
    await invoke(approval);
  } else if (args.scenario === 'edit') {
    await ended(view, run.runId);
    last = await view.edit(run.inputCodecMessageId, userMessage('Hi again'));
    await invoke(last);
    await last.started;
  } else if (args.scenario === 'regenerate') {
    await ended(view, run.runId);
    last = await view.regenerate(lastAssistant(view));
    await invoke(last);
    await last.started;
  }
  await ended(view, last.runId);
  emit({ event: 'result', runId: last.runId, firstRunId: run.runId, steer, ...snapshot(view) });

  const late = await openSession('late');
  emit({ event: 'history', ...snapshot(late.view) });
  await Promise.all([session.close(), late.close()]);
  for (const client of clients) client.close();
  process.exit(0);
}

main().catch(fail);
