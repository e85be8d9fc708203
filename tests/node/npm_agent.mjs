// The npm AI Transport 0.8.0 agent as an HTTP endpoint, driven by scripted Responses events
// (docs/wire.md §8.3): the oracle our Python ClientSession talks to in tests/transport.
//
// Usage: node npm_agent.mjs --host 127.0.0.1 --port HUB_PORT --key app.key:secret
// Prints the port it listens on as its first stdout line, then serves `POST /api/chat` with
// the body {inputEventId, sessionName}. Each request gets its own Realtime client (clientId
// "npm-agent") and agent session, so several runs can stream on one channel at once.
//
// The scenario is chosen by the first word of the newest user prompt on the run's branch:
//   plain  "Hello world" in three deltas
//   slow   40 deltas, DELTA_MS apart, stopping when the run's signal fires
//   steer  pass 1 streams slowly until a steer arrives; pass 2 answers "Steered answer."
//   tool   a gated function call + tool-approval-request, then suspend; the continuation
//          (approval response) answers with a function_call_output and a final text
//   error  two deltas, then the source throws; the run ends `error`
// Every request is logged to stderr as one JSON line.
import http from 'node:http';
import { parseArgs } from 'node:util';
import Ably from 'ably';
import { createAgentSession, Invocation } from '@ably/ai-transport';
import { ResponsesCodec, approvedUnexecutedCalls } from '@ably/ai-transport/openai';

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '' },
    key: { type: 'string', default: '' },
    'client-id': { type: 'string', default: 'npm-agent' },
    'delta-ms': { type: 'string', default: '100' },
  },
});
if (!args.port || !args.key) {
  console.error('usage: node npm_agent.mjs --host H --port HUB_PORT --key appId.keyId:secret');
  process.exit(64);
}
const DELTA_MS = Number(args['delta-ms']);
const SLOW_DELTAS = 40;

function log(record) {
  process.stderr.write(JSON.stringify({ t: Date.now(), ...record }) + '\n');
}

function realtime() {
  return new Ably.Realtime({
    key: args.key,
    clientId: args['client-id'],
    endpoint: args.host,
    port: Number(args.port),
    tls: false,
    disableConnectivityCheck: true,
    logLevel: 0,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- scripted Responses events ------------------------------------------------------------

function* textItem(itemId, outputIndex, deltas) {
  yield { type: 'response.output_item.added', output_index: outputIndex,
    item: { id: itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } };
  yield { type: 'response.content_part.added', item_id: itemId, output_index: outputIndex,
    content_index: 0, part: { type: 'output_text', text: '', annotations: [] } };
  for (const delta of deltas) {
    yield { type: 'response.output_text.delta', item_id: itemId, output_index: outputIndex,
      content_index: 0, delta };
  }
  const text = deltas.join('');
  yield { type: 'response.output_text.done', item_id: itemId, output_index: outputIndex,
    content_index: 0, text };
  yield { type: 'response.output_item.done', output_index: outputIndex,
    item: { id: itemId, type: 'message', role: 'assistant', status: 'completed',
      content: [{ type: 'output_text', text, annotations: [] }] } };
}

async function* plain() {
  yield { type: 'response.created', response: {} };
  yield* textItem('msg_1', 0, ['Hel', 'lo ', 'world']);
  yield { type: 'response.completed', response: {} };
}

// Streams slowly; `stop()` ends the text cleanly (steer), the run's signal ends it (cancel).
async function* slow(signal, stop = () => false) {
  const itemId = 'msg_slow';
  yield { type: 'response.output_item.added', output_index: 0,
    item: { id: itemId, type: 'message', role: 'assistant', status: 'in_progress', content: [] } };
  yield { type: 'response.content_part.added', item_id: itemId, output_index: 0,
    content_index: 0, part: { type: 'output_text', text: '', annotations: [] } };
  let text = '';
  for (let i = 0; i < SLOW_DELTAS; i++) {
    if (signal.aborted || stop()) break;
    const delta = `w${i} `;
    text += delta;
    yield { type: 'response.output_text.delta', item_id: itemId, output_index: 0,
      content_index: 0, delta };
    await sleep(DELTA_MS);
  }
  yield { type: 'response.output_text.done', item_id: itemId, output_index: 0,
    content_index: 0, text };
  yield { type: 'response.output_item.done', output_index: 0,
    item: { id: itemId, type: 'message', role: 'assistant', status: 'completed', content: [] } };
}

async function* steered() {
  yield* textItem('msg_steered', 0, ['Steered ', 'answer.']);
}

async function* toolCall() {
  const item = { id: 'fc_1', type: 'function_call', call_id: 'call_1', name: 'delete_files',
    arguments: '', status: 'in_progress' };
  const args = '{"path":"/tmp/x"}';
  yield { type: 'response.output_item.added', output_index: 0, item };
  yield { type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 0,
    delta: args.slice(0, 8) };
  yield { type: 'response.function_call_arguments.delta', item_id: 'fc_1', output_index: 0,
    delta: args.slice(8) };
  yield { type: 'response.function_call_arguments.done', item_id: 'fc_1', output_index: 0,
    arguments: args, name: 'delete_files' };
  yield { type: 'response.output_item.done', output_index: 0,
    item: { ...item, arguments: args, status: 'completed' } };
  yield { type: 'tool-approval-request', call_id: 'call_1', name: 'delete_files',
    arguments: args };
}

async function* toolResult(calls) {
  for (const call of calls) {
    yield { type: 'function_call_output',
      item: { type: 'function_call_output', call_id: call.call_id, output: 'deleted 3 files' } };
  }
  yield* textItem('msg_done', 0, ['Done.']);
}

async function* failing() {
  yield { type: 'response.output_item.added', output_index: 0,
    item: { id: 'msg_err', type: 'message', role: 'assistant', status: 'in_progress',
      content: [] } };
  yield { type: 'response.content_part.added', item_id: 'msg_err', output_index: 0,
    content_index: 0, part: { type: 'output_text', text: '', annotations: [] } };
  yield { type: 'response.output_text.delta', item_id: 'msg_err', output_index: 0,
    content_index: 0, delta: 'Partial ' };
  yield { type: 'response.output_text.delta', item_id: 'msg_err', output_index: 0,
    content_index: 0, delta: 'answer' };
  await sleep(20);
  throw new Error('scripted model failure');
}

// ---- one invocation ------------------------------------------------------------------------

function promptText(message) {
  const texts = [];
  for (const item of message?.items ?? []) {
    if (item.type === 'message') {
      for (const part of item.content ?? []) if (typeof part.text === 'string') texts.push(part.text);
    }
  }
  return texts.join('');
}

function scenarioOf(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i].message;
    if (message.role === 'user') {
      const word = promptText(message).trim().split(/\s+/)[0]?.toLowerCase() ?? '';
      if (['plain', 'slow', 'steer', 'tool', 'error'].includes(word)) return word;
    }
  }
  return 'plain';
}

async function serve(body, respond) {
  const client = realtime();
  const session = createAgentSession({ client, channelName: body.sessionName,
    codec: ResponsesCodec });
  let steers = 0;
  try {
    await session.connect();
    const invocation = Invocation.fromJSON(body);
    const run = session.createRun(invocation, undefined, {
      onCancel: async () => true,
      onSteer: () => { steers += 1; },
    });
    while (run.view.hasOlder()) await run.view.loadOlder(100);
    try {
      await run.start();
    } catch (err) {
      respond(409, { error: String(err?.message ?? err), code: err?.code });
      log({ event: 'start-failed', error: String(err?.message ?? err) });
      return;
    }
    respond(200, { runId: run.runId, invocationId: run.invocationId });
    const messages = run.view.getMessages();
    const pending = approvedUnexecutedCalls(messages.map((m) => m.message));
    const scenario = pending.length ? 'tool-resume' : scenarioOf(messages);
    log({ event: 'start', runId: run.runId, scenario });
    const signal = run.abortSignal;
    if (scenario === 'tool') {
      const result = await run.pipe(toolCall());
      if (result.reason === 'complete') await run.suspend();
      else await run.end({ reason: result.reason });
    } else if (scenario === 'tool-resume') {
      const result = await run.pipe(toolResult(pending));
      await run.end({ reason: result.reason === 'error' ? 'error' : result.reason });
    } else if (scenario === 'error') {
      const result = await run.pipe(failing());
      await run.end({ reason: 'error',
        error: new Ably.ErrorInfo(String(result.error?.message ?? 'failed'), 104008, 500) });
    } else if (scenario === 'steer') {
      let reason = 'complete';
      let pass = 0;
      while (run.hasInput()) {
        pass += 1;
        const seen = steers;
        const source = pass === 1 ? slow(signal, () => steers > seen) : steered();
        const result = await run.pipe(source);
        reason = result.reason;
        if (reason !== 'complete') break;
      }
      await run.end({ reason });
    } else {
      const result = await run.pipe(scenario === 'slow' ? slow(signal) : plain());
      await run.end({ reason: result.reason });
    }
    log({ event: 'end', runId: run.runId, scenario });
  } catch (err) {
    log({ event: 'error', error: String(err?.stack ?? err) });
    respond(500, { error: String(err?.message ?? err) });
  } finally {
    try { await session.end(); } catch { /* already ended */ }
    client.close();
  }
}

const server = http.createServer((req, res) => {
  let answered = false;
  const respond = (status, payload) => {
    if (answered) return;
    answered = true;
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(payload));
  };
  if (req.method !== 'POST' || req.url !== '/api/chat') {
    respond(404, { error: 'not found' });
    return;
  }
  let raw = '';
  req.on('data', (chunk) => { raw += chunk; });
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      respond(400, { error: 'invalid JSON' });
      return;
    }
    log({ event: 'post', headers: req.headers, body });
    if (typeof body?.inputEventId !== 'string' || typeof body?.sessionName !== 'string') {
      respond(400, { error: 'inputEventId and sessionName required' });
      return;
    }
    serve(body, respond);
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => { server.close(); process.exit(0); });
