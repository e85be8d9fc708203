// An npm client (@ably/ai-transport 0.8.0, OpenAI Responses codec) that only watches a session:
// the oracle that our views are compared with, message for message (docs/wire.md §8.4, §8.6).
//
// Usage: node npm_observer.mjs --host H --port P --key K --channel C [--client observer]
//
// It connects, loads history until hasOlder() is false, prints
//   {"event":"ready", messages, runs, branches, trace}
// then obeys one JSON command per stdin line:
//   {"cmd":"snapshot"}                 -> {"event":"snapshot", ...}
//   {"cmd":"wait-end","runId":R}       -> {"event":"ended", ...} once run R is terminal in its tree
//   {"cmd":"history"}                  -> {"event":"history", ...} from a fresh client's view
//   {"cmd":"quit"}                     -> closes and exits 0
// `trace` lists every distinct assistant text this client showed, in order (live updates),
// so a test can check that text only ever grew by appending (no duplicated or lost fragment).
// Waits on SDK events, never on time; a global timeout guarantees the script exits.
import { parseArgs } from 'node:util';
import readline from 'node:readline';
import { TERMINAL, emit, exitAfter, fail, hubClients } from './oracle.mjs';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    key: { type: 'string' },
    channel: { type: 'string' },
    client: { type: 'string', default: 'observer' },
  },
});

const TIMEOUT_MS = Number(process.env.NPM_OBSERVER_TIMEOUT_MS || 60000);
const { clients, openSession } = hubClients(args);
exitAfter(TIMEOUT_MS);

function assistantText(view) {
  let text = '';
  for (const { message } of view.getMessages()) {
    if (message.role !== 'assistant') continue;
    for (const item of message.items) {
      if (item.type !== 'message') continue;
      for (const part of item.content ?? []) text += part.text ?? '';
    }
  }
  return text;
}

function snapshot(view, trace) {
  return {
    messages: view.getMessages(),
    runs: view.runs().map((r) => ({
      ...r,
      error: r.error ? { code: r.error.code, message: r.error.message } : undefined,
    })),
    branches: view.getMessages().map(({ codecMessageId }) => {
      const branch = view.branchSelection(codecMessageId);
      return { codecMessageId, index: branch.index, count: branch.siblings.length };
    }),
    text: assistantText(view),
    trace,
  };
}

function runEnded(session, runId) {
  return new Promise((resolve) => {
    const check = () => {
      const node = session.tree.getRunNode(runId);
      return node && TERMINAL.has(node.state?.status);
    };
    if (check()) return resolve();
    const offs = [];
    const test = () => {
      if (check()) {
        offs.forEach((off) => off());
        resolve();
      }
    };
    offs.push(session.tree.on('run', test), session.tree.on('update', test));
    offs.push(session.view.on('run', test), session.view.on('update', test));
  });
}

async function main() {
  const session = await openSession(args.client);
  const view = session.view;
  const trace = [];
  const record = () => {
    const text = assistantText(view);
    if (text !== trace[trace.length - 1]) trace.push(text);
  };
  record();
  view.on('update', record);
  view.on('ably-message', record);
  session.tree.on('update', record);
  emit({ event: 'ready', ...snapshot(view, trace) });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const command = JSON.parse(line);
    if (command.cmd === 'snapshot') {
      record();
      emit({ event: 'snapshot', ...snapshot(view, trace) });
    } else if (command.cmd === 'wait-end') {
      await runEnded(session, command.runId);
      record();
      emit({ event: 'ended', runId: command.runId, ...snapshot(view, trace) });
    } else if (command.cmd === 'history') {
      const fresh = await openSession(`${args.client}-fresh`);
      emit({ event: 'history', ...snapshot(fresh.view, []) });
      await fresh.close();
    } else if (command.cmd === 'quit') {
      break;
    }
  }
  await session.close();
  for (const client of clients) client.close();
  process.exit(0);
}

main().catch(fail);
