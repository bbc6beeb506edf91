// Chronicle's compatibility suite: the official KurrentDB Node.js client
// (@kurrent/kurrentdb-client, unchanged, from npm) against Chronicle's
// server for the KurrentDB protocol. run.sh starts a server over a fresh
// store and runs this file with CHRONICLE_GRPC_ADDR set to its address.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import {
  KurrentDBClient,
  jsonEvent,
  FORWARDS,
  BACKWARDS,
  START,
  END,
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  WrongExpectedVersionError,
  StreamNotFoundError,
  StreamDeletedError,
  streamNameFilter,
  eventTypeFilter,
} from "@kurrent/kurrentdb-client";

const addr = process.env.CHRONICLE_GRPC_ADDR;
if (!addr) throw new Error("CHRONICLE_GRPC_ADDR is not set: run this suite through run.sh");

let client; // the client under test
let other; // a second connection, appending while the first subscribes

before(() => {
  client = KurrentDBClient.connectionString(`kurrentdb://${addr}?tls=false`);
  // The tutorial's form of the connection string.
  other = KurrentDBClient.connectionString(`esdb://${addr}?tls=false`);
});

after(async () => {
  await client.dispose();
  await other.dispose();
});

// uniq gives each test streams of its own, so tests do not see each
// other's events.
const uniq = (prefix) => `${prefix}-${randomUUID()}`;

const read = async (stream, options = {}) => {
  const out = [];
  for await (const e of client.readStream(stream, options)) out.push(e.event);
  return out;
};

const readAllEvents = async (options = {}) => {
  const out = [];
  for await (const e of client.readAll(options)) out.push(e.event);
  return out;
};

const rejectsWith = async (promise, type, check = () => {}) => {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof type, `want ${type.name}, got ${err?.constructor?.name}: ${err?.message}`);
    check(err);
    return;
  }
  assert.fail(`want ${type.name}, got success`);
};

const ev = (type, data, id) => jsonEvent({ type, data, ...(id ? { id } : {}) });

test("append with every expected state, and conflicts", async () => {
  const s = uniq("append");
  // no_stream on a new stream.
  let r = await client.appendToStream(s, [ev("A", { n: 0 }), ev("A", { n: 1 })], { streamState: NO_STREAM });
  assert.equal(r.success, true);
  assert.equal(r.nextExpectedRevision, 1n);
  assert.ok(r.position.commit > 0n);
  // no_stream on an existing stream: conflict.
  await rejectsWith(client.appendToStream(s, ev("A", {}), { streamState: NO_STREAM }), WrongExpectedVersionError, (e) => {
    assert.equal(e.streamName, s);
    assert.equal(e.expectedState, "no_stream");
    assert.equal(e.actualState, 1n);
  });
  // exact revision.
  r = await client.appendToStream(s, ev("A", { n: 2 }), { streamState: 1n });
  assert.equal(r.nextExpectedRevision, 2n);
  await rejectsWith(client.appendToStream(s, ev("A", {}), { streamState: 1n }), WrongExpectedVersionError, (e) => {
    assert.equal(e.expectedState, 1n);
    assert.equal(e.actualState, 2n);
  });
  // stream_exists.
  r = await client.appendToStream(s, ev("A", { n: 3 }), { streamState: STREAM_EXISTS });
  assert.equal(r.nextExpectedRevision, 3n);
  await rejectsWith(client.appendToStream(uniq("missing"), ev("A", {}), { streamState: STREAM_EXISTS }), WrongExpectedVersionError, (e) => {
    assert.equal(e.expectedState, "stream_exists");
    assert.equal(e.actualState, "no_stream");
  });
  // any.
  r = await client.appendToStream(s, ev("A", { n: 4 }), { streamState: ANY });
  assert.equal(r.nextExpectedRevision, 4n);
  const events = await read(s);
  assert.deepEqual(events.map((e) => e.data.n), [0, 1, 2, 3, 4]);
  assert.deepEqual(events.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n]);

  // With throwOnAppendFailure off, a conflict is an answer, not an error.
  const lenient = KurrentDBClient.connectionString(`kurrentdb://${addr}?tls=false&throwOnAppendFailure=false`);
  try {
    const res = await lenient.appendToStream(s, ev("A", {}), { streamState: 0n });
    assert.equal(res.success, false);
    // Not checked: nextExpectedRevision. Client 1.3.1 computes it from
    // BigInt(hasCurrentStreamRevision()), which is always 1n.
  } finally {
    await lenient.dispose();
  }
});

test("an append retried with the same event IDs is written once", async () => {
  const s = uniq("idem");
  const id1 = randomUUID();
  const id2 = randomUUID();
  const batch = [ev("A", { n: 1 }, id1), ev("A", { n: 2 }, id2)];
  const first = await client.appendToStream(s, batch, { streamState: NO_STREAM });
  const again = await client.appendToStream(s, batch, { streamState: NO_STREAM });
  assert.equal(again.success, true);
  assert.equal(again.nextExpectedRevision, first.nextExpectedRevision);
  const events = await read(s);
  assert.deepEqual(events.map((e) => e.id), [id1, id2]);
});

test("events read back as written: id, type, data, metadata, time", async () => {
  const s = uniq("shape");
  const id = randomUUID();
  const before = Date.now();
  await client.appendToStream(s, jsonEvent({
    id, type: "Shaped", data: { a: [1, "two", { three: 3 }], b: null },
    metadata: { $correlationId: "c-1", userId: 42 },
  }));
  const [e] = await read(s);
  assert.equal(e.id, id);
  assert.equal(e.type, "Shaped");
  assert.equal(e.streamId, s);
  assert.equal(e.isJson, true);
  assert.deepEqual(e.data, { a: [1, "two", { three: 3 }], b: null });
  // Metadata with a non-string value reads back exactly too.
  assert.deepEqual(e.metadata, { $correlationId: "c-1", userId: 42 });
  assert.ok(Math.abs(e.created.getTime() - before) < 60_000, `created ${e.created.toISOString()}`);
});

test("read a stream forwards and backwards, from a revision, with a limit", async () => {
  const s = uniq("read");
  await client.appendToStream(s, Array.from({ length: 10 }, (_, n) => ev("N", { n })));
  const ns = (evs) => evs.map((e) => e.data.n);
  assert.deepEqual(ns(await read(s)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(ns(await read(s, { direction: FORWARDS, fromRevision: 7n })), [7, 8, 9]);
  assert.deepEqual(ns(await read(s, { direction: FORWARDS, fromRevision: START, maxCount: 3 })), [0, 1, 2]);
  assert.deepEqual(ns(await read(s, { direction: BACKWARDS, fromRevision: END, maxCount: 3 })), [9, 8, 7]);
  assert.deepEqual(ns(await read(s, { direction: BACKWARDS, fromRevision: 2n })), [2, 1, 0]);
  await rejectsWith(read(uniq("nothing")), StreamNotFoundError);
});

test("read $all forwards and backwards, with filters", async () => {
  const tag = randomUUID().slice(0, 8);
  const a = `alla${tag}-1`;
  const b = `allb${tag}-1`;
  await client.appendToStream(a, [ev(`TypeA${tag}`, { n: 1 }), ev(`TypeA${tag}`, { n: 2 })]);
  await client.appendToStream(b, [ev(`TypeB${tag}`, { n: 3 })]);
  const all = await readAllEvents({ direction: FORWARDS, fromPosition: START });
  const mine = all.filter((e) => e.streamId === a || e.streamId === b);
  assert.deepEqual(mine.map((e) => e.data.n), [1, 2, 3]);
  for (let i = 1; i < all.length; i++) assert.ok(all[i].position.commit > all[i - 1].position.commit);

  const last = await readAllEvents({ direction: BACKWARDS, fromPosition: END, maxCount: 3 });
  assert.deepEqual(last.map((e) => e.data.n), [3, 2, 1]);

  // From a position: forwards includes the event at it.
  const from = await readAllEvents({ direction: FORWARDS, fromPosition: mine[1].position, maxCount: 2 });
  assert.deepEqual(from.map((e) => e.data.n), [2, 3]);

  const byStream = await readAllEvents({ filter: streamNameFilter({ prefixes: [`allb${tag}`] }) });
  assert.deepEqual(byStream.map((e) => e.data.n), [3]);
  const byType = await readAllEvents({ filter: eventTypeFilter({ regex: `^TypeA${tag}$` }) });
  assert.deepEqual(byType.map((e) => e.data.n), [1, 2]);
});

// collect gathers n events from a subscription, failing after ms.
const collect = (subscription, n, ms = 15_000) =>
  new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} events in ${ms} ms`)), ms);
    subscription.on("data", (e) => {
      got.push(e.event);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
    subscription.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });

const once = (emitter, name, ms = 15_000) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} in ${ms} ms`)), ms);
    emitter.once(name, (v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });

test("subscribe to a stream: catch-up, caught up, then live while another client appends", async () => {
  const s = uniq("sub");
  await client.appendToStream(s, [ev("N", { n: 0 }), ev("N", { n: 1 })]);
  const sub = client.subscribeToStream(s, { fromRevision: START });
  const caughtUp = once(sub, "caughtUp");
  const got = collect(sub, 5);
  await caughtUp;
  await other.appendToStream(s, [ev("N", { n: 2 }), ev("N", { n: 3 })], { streamState: 1n });
  await other.appendToStream(s, ev("N", { n: 4 }), { streamState: 3n });
  const events = await got;
  await sub.unsubscribe();
  assert.deepEqual(events.map((e) => e.data.n), [0, 1, 2, 3, 4]);
  assert.deepEqual(events.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n]);

  // From a revision: only what comes after it.
  const after = client.subscribeToStream(s, { fromRevision: 2n });
  const rest = await collect(after, 2);
  await after.unsubscribe();
  assert.deepEqual(rest.map((e) => e.data.n), [3, 4]);
});

test("subscribe to $all with a filter, with checkpoints, while another client appends", async () => {
  const tag = randomUUID().slice(0, 8);
  const stream = `suball${tag}-1`;
  await client.appendToStream(stream, ev("Before", { n: 0 }));
  const checkpoints = [];
  const sub = client.subscribeToAll({
    fromPosition: START,
    filter: streamNameFilter({
      prefixes: [`suball${tag}`],
      maxSearchWindow: 1,
      checkpointInterval: 1,
      checkpointReached: (_s, position) => { checkpoints.push(position); },
    }),
  });
  const caughtUp = once(sub, "caughtUp");
  const got = collect(sub, 3);
  await caughtUp;
  await other.appendToStream(uniq("noise"), ev("Noise", {}));
  await other.appendToStream(stream, [ev("After", { n: 1 }), ev("After", { n: 2 })]);
  const events = await got;
  await sub.unsubscribe();
  assert.deepEqual(events.map((e) => e.data.n), [0, 1, 2]);
  assert.ok(events.every((e) => e.streamId === stream));
  assert.ok(checkpoints.length > 0, "no checkpoint reached");
  for (let i = 1; i < checkpoints.length; i++) assert.ok(checkpoints[i].commit >= checkpoints[i - 1].commit);

  // An event-type filter with a regex, from END: only new events.
  const live = client.subscribeToAll({ fromPosition: END, filter: eventTypeFilter({ regex: `^Live${tag}` }) });
  const liveGot = collect(live, 1);
  await once(live, "caughtUp");
  await other.appendToStream(stream, [ev("Other", {}), ev(`Live${tag}X`, { n: 9 })]);
  const [e] = await liveGot;
  await live.unsubscribe();
  assert.equal(e.data.n, 9);
});

test("delete (soft) and tombstone", async () => {
  const s = uniq("del");
  await client.appendToStream(s, [ev("N", { n: 0 }), ev("N", { n: 1 })]);
  await rejectsWith(client.deleteStream(s, { expectedRevision: 0n }), WrongExpectedVersionError);
  await client.deleteStream(s, { expectedRevision: 1n });
  await rejectsWith(read(s), StreamNotFoundError);
  // A soft-deleted stream starts again after its old last revision.
  const r = await client.appendToStream(s, ev("N", { n: 2 }));
  assert.equal(r.nextExpectedRevision, 2n);
  const events = await read(s);
  assert.deepEqual(events.map((e) => [e.revision, e.data.n]), [[2n, 2]]);

  const t = uniq("tomb");
  await client.appendToStream(t, ev("N", { n: 0 }));
  await client.tombstoneStream(t);
  await rejectsWith(read(t), StreamDeletedError, (e) => assert.equal(e.streamName, t));
  await rejectsWith(client.appendToStream(t, ev("N", {})), StreamDeletedError);
});

test("stream metadata: set, get, and it applies to reads", async () => {
  const s = uniq("meta");
  let got = await client.getStreamMetadata(s);
  assert.equal(got.metadata, undefined);
  await client.appendToStream(s, Array.from({ length: 5 }, (_, n) => ev("N", { n })));
  await client.setStreamMetadata(s, { maxCount: 2 });
  got = await client.getStreamMetadata(s);
  assert.deepEqual(got.metadata, { maxCount: 2 });
  assert.deepEqual((await read(s)).map((e) => e.data.n), [3, 4]);
  await client.setStreamMetadata(s, { truncateBefore: 4, maxAge: 3600 });
  got = await client.getStreamMetadata(s);
  assert.deepEqual(got.metadata, { truncateBefore: 4, maxAge: 3600 });
  assert.deepEqual((await read(s)).map((e) => e.data.n), [4]);
  // What Chronicle cannot keep is refused, not dropped.
  await assert.rejects(client.setStreamMetadata(s, { acl: { readRoles: ["$admins"] } }));
});

// Connect Four, as the tutorial stores it: a stream game-<uuid> of
// GameStarted, MoveMade and GameFinished events, appended with the
// expected revision of the game as it was loaded.
const COLUMNS = "ABCDEFG";

const evolve = (game, e) => {
  switch (e.type) {
    case "GameStarted":
      return { ...game, players: [e.data.player_one, e.data.player_two], board: COLUMNS.split("").map(() => []), moves: 0 };
    case "MoveMade": {
      const board = game.board.map((col) => [...col]);
      board[COLUMNS.indexOf(e.data.column)].push(e.data.player);
      return { ...game, board, moves: game.moves + 1 };
    }
    case "GameFinished":
      return { ...game, result: e.data.result };
    default:
      throw new Error(`unknown event type ${e.type}`);
  }
};

const loadGame = async (c, stream) => {
  let game = {};
  let revision;
  for await (const { event } of c.readStream(stream)) {
    game = evolve(game, event);
    revision = event.revision;
  }
  return { game, revision };
};

test("store and reload a Connect Four game as the tutorial does", async () => {
  const stream = `game-${randomUUID()}`;
  await client.appendToStream(stream, jsonEvent({ type: "GameStarted", data: { player_one: "ada", player_two: "alan" } }), { streamState: NO_STREAM });
  // Player one stacks column A; player two answers in B.
  const moves = ["A", "B", "A", "B", "A", "B"];
  for (const [i, column] of moves.entries()) {
    const { game, revision } = await loadGame(client, stream);
    const player = game.players[i % 2];
    await client.appendToStream(stream, jsonEvent({ type: "MoveMade", data: { player, column } }), { streamState: revision });
  }
  // A move against a stale revision, as from a second browser tab, fails.
  await rejectsWith(
    other.appendToStream(stream, jsonEvent({ type: "MoveMade", data: { player: "alan", column: "C" } }), { streamState: 3n }),
    WrongExpectedVersionError,
  );
  // The winning move and the finish go in one append.
  const { revision } = await loadGame(client, stream);
  await client.appendToStream(stream, [
    jsonEvent({ type: "MoveMade", data: { player: "ada", column: "A" } }),
    jsonEvent({ type: "GameFinished", data: { result: "PLAYER_ONE_WON" } }),
  ], { streamState: revision });

  const { game, revision: last } = await loadGame(other, stream);
  assert.equal(last, 8n);
  assert.deepEqual(game.players, ["ada", "alan"]);
  assert.equal(game.moves, 7);
  assert.deepEqual(game.board[0], ["ada", "ada", "ada", "ada"]);
  assert.deepEqual(game.board[1], ["alan", "alan", "alan"]);
  assert.equal(game.result, "PLAYER_ONE_WON");
  const raw = [];
  for await (const { event } of other.readStream(stream)) raw.push([event.type, event.data]);
  assert.deepEqual(raw[0], ["GameStarted", { player_one: "ada", player_two: "alan" }]);
  assert.deepEqual(raw[1], ["MoveMade", { player: "ada", column: "A" }]);
  assert.deepEqual(raw[8], ["GameFinished", { result: "PLAYER_ONE_WON" }]);

  // The games are found in $all by their stream names.
  const games = [];
  for await (const { event } of other.readAll({ filter: streamNameFilter({ prefixes: ["game-"] }) })) {
    if (event.streamId === stream) games.push(event.type);
  }
  assert.equal(games.length, 9);
});
