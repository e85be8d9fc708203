// ably-js 2.28 (unmodified) against the local hub: an interop oracle.
//
// Usage: node ablyjs_hub.mjs --host 127.0.0.1 --port 8080 --key app.key:secret [--only a,b]
//        node ablyjs_hub.mjs --list   (prints the check names)
//        (or HUB_HOST / HUB_PORT / HUB_KEY / HUB_ONLY in the environment)
//
// Prints one JSON line per check, {"check": name, "ok": true|false, "ms": n, "error"?: "..."},
// and exits non-zero if any check failed. A global timeout guarantees it never hangs.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Ably from 'ably';

const ABLY_VERSION = JSON.parse(
  readFileSync(new URL('./node_modules/ably/package.json', import.meta.url), 'utf8'),
).version;

const GLOBAL_TIMEOUT_MS = Number(process.env.HUB_JS_TIMEOUT_MS || 20000);
const WAIT_MS = 5000;

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: process.env.HUB_HOST || '127.0.0.1' },
    port: { type: 'string', default: process.env.HUB_PORT || '' },
    key: { type: 'string', default: process.env.HUB_KEY || '' },
    only: { type: 'string', default: process.env.HUB_ONLY || '' },
    list: { type: 'boolean', default: false },
  },
});
if (!args.list && (!args.port || !args.key)) {
  console.error('usage: node ablyjs_hub.mjs --host H --port P --key appId.keyId:secret [--only a,b]');
  process.exit(64);
}
const PORT = Number(args.port);
const RUN_ID = Math.random().toString(36).slice(2, 8);

function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

// ---- helpers -----------------------------------------------------------------------------

const openClients = new Set();

function baseOptions(extra = {}) {
  return {
    endpoint: args.host,
    port: PORT,
    tls: false,
    disableConnectivityCheck: true,
    logLevel: Number(process.env.HUB_JS_LOG_LEVEL || 0),
    ...extra,
  };
}

function realtime(extra = {}) {
  const client = new Ably.Realtime(baseOptions({ key: args.key, ...extra }));
  openClients.add(client);
  return client;
}

function rest(extra = {}) {
  return new Ably.Rest(baseOptions({ key: args.key, ...extra }));
}

async function closeAll() {
  const closing = [...openClients].map(
    (client) =>
      new Promise((resolve) => {
        if (['closed', 'failed', 'initialized'].includes(client.connection.state)) return resolve();
        client.connection.once('closed', resolve);
        client.connection.once('failed', resolve);
        client.close();
        setTimeout(resolve, 2000).unref();
      }),
  );
  openClients.clear();
  await Promise.all(closing);
}

function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

async function connected(client, what = 'connected') {
  if (client.connection.state === 'connected') return;
  let last = `state ${client.connection.state}`;
  try {
    await withTimeout(
      new Promise((resolve, reject) => {
        client.connection.on((change) => {
          last = `state ${change.current}` + (change.reason ? ` (${change.reason.code} ${change.reason.message})` : '');
          if (change.current === 'connected') resolve();
          if (change.current === 'failed' || change.current === 'suspended') reject(new Error(`connection ${last}`));
        });
      }),
      what,
    );
  } catch (err) {
    if (err.message.startsWith('timed out')) err.message += `; last connection ${last}`;
    throw err;
  }
}

/** Records what a listener receives and lets a check wait for a condition on it. */
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.listener = (item) => {
      this.items.push(item);
      this.waiters = this.waiters.filter(({ predicate, resolve }) => {
        if (predicate(this.items)) {
          resolve(this.items);
          return false;
        }
        return true;
      });
    };
  }

  until(predicate, what) {
    if (predicate(this.items)) return Promise.resolve(this.items);
    return withTimeout(
      new Promise((resolve) => this.waiters.push({ predicate, resolve })),
      `${what} (got ${JSON.stringify(this.items.map(brief))})`,
    );
  }

  count(n, what) {
    return this.until((items) => items.length >= n, what || `${n} item(s)`);
  }
}

function brief(m) {
  const data = Buffer.isBuffer(m.data) ? `<bin:${m.data.toString('hex')}>` : m.data;
  return { action: m.action, name: m.name, data, serial: m.serial, clientId: m.clientId };
}

function describe(err) {
  if (!(err instanceof Error)) return JSON.stringify(err);
  const code = err.code ? ` [${err.code}/${err.statusCode}]` : '';
  const where = (err.stack || '').split('\n').filter((line) => line.includes('ablyjs_hub.mjs'))[0]?.trim();
  return `${err.message}${code}${where ? ` (${where})` : ''}`;
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function channelName(check) {
  return `js-interop:${check}-${RUN_ID}`;
}

async function collectHistory(page) {
  const items = [...page.items];
  while (page.hasNext()) {
    page = await page.next();
    if (!page) break;
    items.push(...page.items);
  }
  return items;
}

// ---- checks ------------------------------------------------------------------------------

const checks = {};

// (a) basic auth with a key and a clientId reaches 'connected' with that clientId.
checks.connect = async () => {
  const alice = realtime({ clientId: 'js-alice' });
  await connected(alice);
  assert(alice.connection.id, 'no connection id');
  assert(alice.connection.key, 'no connection key');
  assertEqual(alice.auth.clientId, 'js-alice', 'auth.clientId');
  const rtt = await withTimeout(alice.connection.ping(), 'ping reply');
  assert(typeof rtt === 'number', `ping returned ${rtt}`);
  return { connectionId: alice.connection.id };
};

// (b) attach, subscribe, publish, receive the message with a serial (the publisher's echo).
checks.publish_subscribe = async () => {
  const alice = realtime({ clientId: 'js-alice' });
  const channel = alice.channels.get(channelName('pubsub'));
  const inbox = new Inbox();
  await withTimeout(channel.subscribe(inbox.listener), 'attach');
  assertEqual(channel.state, 'attached', 'channel state');
  const result = await withTimeout(channel.publish('greeting', 'hello'), 'publish ack');
  assert(Array.isArray(result?.serials) && result.serials.length === 1, `publish result ${JSON.stringify(result)}`);
  const serial = result.serials[0];
  assert(typeof serial === 'string' && serial.length > 0, `publish serial ${serial}`);
  const [msg] = await inbox.count(1, 'the published message');
  assertEqual(msg.data, 'hello', 'data');
  assertEqual(msg.name, 'greeting', 'name');
  assertEqual(msg.serial, serial, 'delivered serial = publish serial');
  assertEqual(msg.clientId, 'js-alice', 'clientId');
  assertEqual(msg.connectionId, alice.connection.id, 'connectionId');
  assertEqual(msg.action, 'message.create', 'action');
  assert(typeof msg.timestamp === 'number' && msg.timestamp > 0, `timestamp ${msg.timestamp}`);
  assert(msg.id, 'message id');
  return { serial };
};

// (c) msgpack and JSON clients exchange strings, JSON objects and binary in both directions.
async function formatsCheck(publisherBinary, subscriberBinary) {
  const pub = realtime({ clientId: `js-pub-${publisherBinary ? 'mp' : 'json'}`, useBinaryProtocol: publisherBinary });
  const sub = realtime({ clientId: `js-sub-${subscriberBinary ? 'mp' : 'json'}`, useBinaryProtocol: subscriberBinary });
  const name = channelName(`fmt-${publisherBinary ? 'mp' : 'json'}-${subscriberBinary ? 'mp' : 'json'}`);
  const inbox = new Inbox();
  await withTimeout(sub.channels.get(name).subscribe(inbox.listener), 'subscriber attach');
  const pubChannel = pub.channels.get(name);
  const pubInbox = new Inbox();
  await withTimeout(pubChannel.subscribe(pubInbox.listener), 'publisher attach');
  const binary = Buffer.from([0, 1, 2, 250, 255]);
  const result = await withTimeout(
    pubChannel.publish([
      { name: 'text', data: 'héllo ✓' },
      { name: 'object', data: { nested: { n: 1, list: [true, null, 'x'] } } },
      { name: 'binary', data: binary },
    ]),
    'publish ack',
  );
  assertEqual(result.serials.length, 3, 'serial count');
  for (const [label, box] of [['subscriber', inbox], ['publisher echo', pubInbox]]) {
    const items = await box.count(3, `3 messages at the ${label}`);
    assertEqual(items.map((m) => m.name), ['text', 'object', 'binary'], `${label} names`);
    assertEqual(items[0].data, 'héllo ✓', `${label} text data`);
    assertEqual(items[1].data, { nested: { n: 1, list: [true, null, 'x'] } }, `${label} object data`);
    assert(
      Buffer.isBuffer(items[2].data) && Buffer.compare(items[2].data, binary) === 0,
      `${label} binary data: ${JSON.stringify(brief(items[2]))}`,
    );
    assertEqual(items.map((m) => m.serial), result.serials, `${label} serials`);
  }
  return { serials: result.serials };
}
checks.format_msgpack = () => formatsCheck(true, true);
checks.format_json = () => formatsCheck(false, false);
checks.format_msgpack_to_json = () => formatsCheck(true, false);
checks.format_json_to_msgpack = () => formatsCheck(false, true);

// (d) appends: live fragments for a subscriber that saw the create; a late joiner's first
// contact is a full message.update; (f) getMessage returns the accumulated text.
const appendState = {};
async function appendCheck(useBinaryProtocol) {
  const name = channelName(`append-${useBinaryProtocol ? 'mp' : 'json'}`);
  const alice = realtime({ clientId: 'js-alice', useBinaryProtocol });
  const bob = realtime({ clientId: 'js-bob', useBinaryProtocol });
  const aliceChannel = alice.channels.get(name);
  const bobInbox = new Inbox();
  await withTimeout(bob.channels.get(name).subscribe(bobInbox.listener), 'bob attach');
  await withTimeout(aliceChannel.attach(), 'alice attach');

  const created = await withTimeout(
    aliceChannel.publish({ name: 'ai-output', data: 'hello', extras: { headers: { step: 'create' } } }),
    'create ack',
  );
  const serial = created.serials[0];
  assert(serial, `create serial ${JSON.stringify(created)}`);
  const appended = await withTimeout(
    aliceChannel.appendMessage({ serial, data: ' world', extras: { headers: { step: 'append-1' } } }),
    'appendMessage result',
  );
  assert(typeof appended?.versionSerial === 'string', `appendMessage result ${JSON.stringify(appended)}`);
  assert(appended.versionSerial > serial, `versionSerial ${appended.versionSerial} should sort after ${serial}`);

  const bobItems = await bobInbox.count(2, 'create and append at bob');
  assertEqual(bobItems[0].action, 'message.create', 'bob first action');
  assertEqual(bobItems[0].data, 'hello', 'bob create data');
  assertEqual(bobItems[1].action, 'message.append', 'bob second action');
  assertEqual(bobItems[1].data, ' world', 'bob append fragment');
  assertEqual(bobItems[1].serial, serial, 'append serial = create serial');
  assertEqual(bobItems[1].name, 'ai-output', 'append keeps the name');
  assertEqual(bobItems[1].version?.serial, appended.versionSerial, 'append version.serial');
  assertEqual(bobItems[1].extras?.headers?.step, 'append-1', 'append extras');

  // Carol attaches after the create and the first append.
  const carol = realtime({ clientId: 'js-carol', useBinaryProtocol });
  const carolInbox = new Inbox();
  await withTimeout(carol.channels.get(name).subscribe(carolInbox.listener), 'carol attach');
  const second = await withTimeout(
    aliceChannel.appendMessage({ serial, data: '!', extras: { headers: { step: 'append-2' } } }),
    'second append',
  );
  const carolFirst = (await carolInbox.count(1, 'carol first contact'))[0];
  assertEqual(carolFirst.action, 'message.update', 'late joiner first action');
  assertEqual(carolFirst.data, 'hello world!', 'late joiner accumulated data');
  assertEqual(carolFirst.serial, serial, 'late joiner serial');
  assertEqual(carolFirst.name, 'ai-output', 'late joiner name');
  assertEqual(carolFirst.extras?.headers?.step, 'append-2', 'late joiner latest extras');
  assertEqual(carolFirst.version?.serial, second.versionSerial, 'late joiner version.serial');
  await withTimeout(aliceChannel.appendMessage({ serial, data: '?' }), 'third append');
  const carolItems = await carolInbox.count(2, 'carol second delivery');
  assertEqual(carolItems[1].action, 'message.append', 'late joiner then gets fragments');
  assertEqual(carolItems[1].data, '?', 'late joiner fragment');

  const bobAll = await bobInbox.count(4, 'all four at bob');
  assertEqual(
    bobAll.map((m) => [m.action, m.data]),
    [['message.create', 'hello'], ['message.append', ' world'], ['message.append', '!'], ['message.append', '?']],
    'bob deliveries',
  );
  Object.assign(appendState, { name, serial });
  return { serial, versions: [appended.versionSerial, second.versionSerial] };
}
checks.append = () => appendCheck(true);
checks.append_json = () => appendCheck(false);

// (f) getMessage (REST, basic auth over http) returns the latest version with the full text.
checks.get_message = async () => {
  if (!appendState.serial) await checks.append();
  const { name, serial } = appendState;
  const alice = realtime({ clientId: 'js-alice' });
  const msg = await withTimeout(alice.channels.get(name).getMessage(serial), 'realtime getMessage');
  assertEqual(msg.data, 'hello world!?', 'getMessage data');
  assertEqual(msg.serial, serial, 'getMessage serial');
  assertEqual(msg.name, 'ai-output', 'getMessage name');
  assertEqual(msg.action, 'message.update', 'getMessage action');
  assert(msg.version?.serial > serial, `getMessage version.serial ${msg.version?.serial}`);
  for (const useBinaryProtocol of [true, false]) {
    const viaRest = await withTimeout(
      rest({ useBinaryProtocol }).channels.get(name).getMessage(serial),
      `Rest getMessage (binary=${useBinaryProtocol})`,
    );
    assertEqual(viaRest.data, 'hello world!?', `Rest getMessage data (binary=${useBinaryProtocol})`);
    assertEqual(viaRest.action, 'message.update', `Rest getMessage action (binary=${useBinaryProtocol})`);
  }
  // History returns the appended message once, at its latest version, in its original position.
  const history = await collectHistory(await withTimeout(alice.channels.get(name).history(), 'history'));
  assertEqual(history.map((m) => [m.serial, m.action, m.data]), [[serial, 'message.update', 'hello world!?']], 'history');
  return { version: msg.version.serial };
};

// (e) history({untilAttach}) meets live delivery with no overlap and no gap.
checks.history_until_attach = async () => {
  const name = channelName('untilattach');
  const pub = realtime({ clientId: 'js-pub' });
  const sub = realtime({ clientId: 'js-sub' });
  const pubChannel = pub.channels.get(name);
  await withTimeout(pubChannel.attach(), 'publisher attach');
  for (const n of [1, 2, 3]) await withTimeout(pubChannel.publish('m', `before-${n}`), `publish before-${n}`);

  const subChannel = sub.channels.get(name);
  const live = new Inbox();
  await withTimeout(subChannel.subscribe(live.listener), 'subscriber attach');
  for (const n of [1, 2]) await withTimeout(pubChannel.publish('m', `after-${n}`), `publish after-${n}`);
  await live.count(2, 'two live messages');

  const page = await withTimeout(subChannel.history({ untilAttach: true }), 'history untilAttach');
  const history = await collectHistory(page);
  assertEqual(history.map((m) => m.data), ['before-3', 'before-2', 'before-1'], 'untilAttach history (newest first)');
  assertEqual(live.items.map((m) => m.data), ['after-1', 'after-2'], 'live messages');
  const plain = await collectHistory(await withTimeout(subChannel.history(), 'history'));
  assertEqual(plain.length, 5, 'plain history includes the live messages');

  // Race: the subscriber attaches while messages are being published; history + live must be
  // exactly the published sequence.
  const raceName = channelName('untilattach-race');
  const racePub = pub.channels.get(raceName);
  await withTimeout(racePub.attach(), 'race publisher attach');
  const total = 60;
  const acks = [];
  const raceSub = sub.channels.get(raceName);
  const raceLive = new Inbox();
  let attachPromise;
  for (let i = 0; i < total; i++) {
    acks.push(racePub.publish('r', `r-${i}`));
    if (i === 5) await acks[0];
    if (i === 20) attachPromise = raceSub.subscribe(raceLive.listener);
  }
  await withTimeout(Promise.all(acks), 'race publishes acked');
  await withTimeout(attachPromise, 'race subscriber attach');
  await withTimeout(racePub.publish('r', 'end'), 'race end publish');
  await raceLive.until((items) => items.some((m) => m.data === 'end'), 'race end message live');
  const raceHistory = await collectHistory(
    await withTimeout(raceSub.history({ untilAttach: true, limit: 7 }), 'race history untilAttach'),
  );
  const combined = [...raceHistory.reverse(), ...raceLive.items].map((m) => m.data);
  const expected = [...Array(total).keys()].map((i) => `r-${i}`).concat('end');
  assertEqual(combined, expected, 'history(untilAttach) + live');
  return { raceHistory: raceHistory.length, raceLive: raceLive.items.length };
};

// (g) presence enter / get / subscribe / leave between two ably-js clients, and a late SYNC.
checks.presence = async () => {
  const name = channelName('presence');
  const alice = realtime({ clientId: 'js-alice' });
  const bob = realtime({ clientId: 'js-bob', useBinaryProtocol: false });
  const aliceChannel = alice.channels.get(name);
  const bobChannel = bob.channels.get(name);
  const bobEvents = new Inbox();
  await withTimeout(bobChannel.presence.subscribe(bobEvents.listener), 'bob presence subscribe');

  await withTimeout(aliceChannel.presence.enter({ status: 'here' }), 'alice enter');
  const [enter] = await bobEvents.count(1, 'alice enter at bob');
  assertEqual([enter.action, enter.clientId, enter.data], ['enter', 'js-alice', { status: 'here' }], 'enter event');
  assertEqual(enter.connectionId, alice.connection.id, 'enter connectionId');

  let members = await withTimeout(bobChannel.presence.get(), 'bob presence.get');
  assertEqual(members.map((m) => [m.clientId, m.action, m.data]), [['js-alice', 'present', { status: 'here' }]], 'bob get');

  await withTimeout(bobChannel.presence.enter('bob-data'), 'bob enter');
  await withTimeout(aliceChannel.presence.update({ status: 'busy' }), 'alice update');
  await bobEvents.until((items) => items.some((m) => m.action === 'update'), 'alice update at bob');

  // A third client attaching now learns both members through SYNC.
  const carol = realtime({ clientId: 'js-carol' });
  members = await withTimeout(carol.channels.get(name).presence.get(), 'carol presence.get (SYNC)');
  assertEqual(
    members.map((m) => [m.clientId, m.data]).sort(),
    [['js-alice', { status: 'busy' }], ['js-bob', 'bob-data']].sort(),
    'late joiner members',
  );
  members = await withTimeout(aliceChannel.presence.get(), 'alice presence.get');
  assertEqual(members.map((m) => m.clientId).sort(), ['js-alice', 'js-bob'], 'alice get');

  await withTimeout(aliceChannel.presence.leave(), 'alice leave');
  const leave = (await bobEvents.until((items) => items.some((m) => m.action === 'leave'), 'alice leave at bob')).find(
    (m) => m.action === 'leave',
  );
  assertEqual(leave.clientId, 'js-alice', 'leave clientId');
  members = await withTimeout(bobChannel.presence.get(), 'bob presence.get after leave');
  assertEqual(members.map((m) => m.clientId), ['js-bob'], 'members after leave');

  // Bob closing his connection removes him (the hub broadcasts a LEAVE).
  const carolEvents = new Inbox();
  await withTimeout(carol.channels.get(name).presence.subscribe(carolEvents.listener), 'carol subscribe');
  bob.close();
  await carolEvents.until(
    (items) => items.some((m) => m.action === 'leave' && m.clientId === 'js-bob'),
    'bob leave after close',
  );
  return {};
};

// (h) token auth: a TokenRequest signed locally by ably-js, handed over through authCallback.
checks.token_auth = async () => {
  const signer = rest();
  let calls = 0;
  const authCallback = (tokenParams, callback) => {
    calls += 1;
    signer.auth.createTokenRequest({ clientId: 'js-token' }).then(
      (tokenRequest) => callback(null, tokenRequest),
      (err) => callback(err, null),
    );
  };
  const client = new Ably.Realtime(baseOptions({ authCallback }));
  openClients.add(client);
  await connected(client, 'token connection');
  assertEqual(client.auth.clientId, 'js-token', 'auth.clientId from the token');
  assert(calls >= 1, 'authCallback was not called');
  assert(client.auth.tokenDetails?.token, 'no tokenDetails');
  assertEqual(client.auth.tokenDetails.clientId, 'js-token', 'tokenDetails.clientId');

  const name = channelName('token');
  const channel = client.channels.get(name);
  const inbox = new Inbox();
  await withTimeout(channel.subscribe(inbox.listener), 'token client attach');
  await withTimeout(channel.publish('t', 'by token'), 'token publish');
  const [msg] = await inbox.count(1, 'token message');
  assertEqual(msg.clientId, 'js-token', 'stamped clientId');
  // REST over a bearer token (history) works for the same client.
  const history = await collectHistory(await withTimeout(channel.history(), 'history with token'));
  assertEqual(history.map((m) => m.data), ['by token'], 'token history');

  // A token request with a TokenDetails-returning callback (requestToken over REST) also works.
  const viaRequest = new Ably.Realtime(
    baseOptions({
      authCallback: (params, callback) =>
        signer.auth.requestToken({ clientId: 'js-token2' }).then((td) => callback(null, td), (err) => callback(err, null)),
    }),
  );
  openClients.add(viaRequest);
  await connected(viaRequest, 'requestToken connection');
  assertEqual(viaRequest.auth.clientId, 'js-token2', 'clientId via requestToken');
  return { calls };
};

// Resume: the socket drops abruptly; ably-js resumes the same connection and gets what it missed.
checks.resume = async () => {
  const name = channelName('resume');
  const alice = realtime({ clientId: 'js-alice' });
  const bob = realtime({ clientId: 'js-bob' });
  const aliceChannel = alice.channels.get(name);
  const inbox = new Inbox();
  await withTimeout(aliceChannel.subscribe(inbox.listener), 'alice attach');
  const bobChannel = bob.channels.get(name);
  await withTimeout(bobChannel.attach(), 'bob attach');
  await withTimeout(bobChannel.publish('m', 'm-1'), 'publish m-1');
  await inbox.count(1, 'm-1 live');
  const connectionId = alice.connection.id;

  const channelChanges = [];
  aliceChannel.on((change) => channelChanges.push({ ...change, reason: change.reason?.code }));
  const dropped = new Promise((resolve) => alice.connection.once('disconnected', resolve));
  alice.connection.connectionManager.activeProtocol.getTransport().wsConnection.terminate();
  // Sent at once, so the hub has them before alice's new socket re-attaches: they must come
  // back as the replay after the resumed ATTACHED.
  const published = [2, 3, 4].map((n) => bobChannel.publish('m', `m-${n}`));
  await withTimeout(dropped, 'disconnected after the socket drop');
  await withTimeout(Promise.all(published), 'publishes while alice is away');
  await connected(alice, 'reconnected');
  assertEqual(alice.connection.id, connectionId, 'resumed connectionId');
  await withTimeout(aliceChannel.publish('m', 'm-5'), 'alice publishes after resume');
  await inbox.count(5, 'five messages');
  assertEqual(inbox.items.map((m) => m.data), ['m-1', 'm-2', 'm-3', 'm-4', 'm-5'], 'messages across the resume');
  const reattached = channelChanges.filter((c) => c.current === 'attached');
  assert(
    reattached.every((c) => c.resumed),
    `channel re-attached without RESUMED: ${JSON.stringify(channelChanges)}`,
  );
  return { channelChanges: channelChanges.map((c) => `${c.previous}->${c.current}${c.resumed ? '(resumed)' : ''}`) };
};

// ---- runner ------------------------------------------------------------------------------

if (args.list) {
  emit({ checks: Object.keys(checks) });
  process.exit(0);
}
const selected = args.only ? args.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(checks);
const unknown = selected.filter((name) => !(name in checks));
if (unknown.length) {
  console.error(`unknown check(s): ${unknown.join(', ')}; known: ${Object.keys(checks).join(', ')}`);
  process.exit(64);
}

let current = null;
let failures = 0;
const globalTimer = setTimeout(() => {
  emit({ check: current ?? 'global', ok: false, error: `global timeout of ${GLOBAL_TIMEOUT_MS} ms` });
  for (const name of selected.slice(selected.indexOf(current) + 1)) {
    emit({ check: name, ok: false, error: 'not run: global timeout' });
  }
  process.exit(3);
}, GLOBAL_TIMEOUT_MS);

emit({ plan: selected, ably: ABLY_VERSION, node: process.version });
for (const name of selected) {
  current = name;
  const started = Date.now();
  try {
    const detail = await checks[name]();
    emit({ check: name, ok: true, ms: Date.now() - started, detail });
  } catch (err) {
    failures += 1;
    emit({ check: name, ok: false, ms: Date.now() - started, error: describe(err) });
  } finally {
    await closeAll();
  }
}
clearTimeout(globalTimer);
process.exit(failures ? 1 : 0);
