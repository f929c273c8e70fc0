// Unit tests of ui/user-book.js: unknown user ids are looked up at once, without a fetch storm.
import { test } from "node:test";
import assert from "node:assert/strict";

import { UserBook } from "../ui/user-book.js";
import { flush } from "./fakes.js";

function makeBook(directory) {
  let now = 0;
  const deferred = [];
  const fetches = [];
  const changes = [];
  const book = new UserBook({
    fetchUsers: async () => {
      fetches.push(now);
      return directory.slice();
    },
    onChange: (users) => changes.push(users.length),
    now: () => now,
    defer: (fn) => deferred.push(fn),
  });
  const runDeferred = async () => {
    while (deferred.length) deferred.shift()();
    await flush();
  };
  return { book, fetches, changes, runDeferred, tick: (ms) => (now += ms) };
}

test("a person created after the page loaded is named after one immediate fetch", async () => {
  const directory = [{ id: "a", name: "Ada" }];
  const t = makeBook(directory);
  await t.book.refresh();
  assert.equal(t.fetches.length, 1);
  directory.push({ id: "new", name: "Newcomer" }); // created on the server meanwhile
  assert.equal(t.book.name("new"), null); // unknown: shown as "User …" for now
  assert.equal(t.book.name("new"), null); // asked twice before the fetch: still one fetch
  await t.runDeferred();
  assert.equal(t.fetches.length, 2);
  assert.equal(t.book.name("new"), "Newcomer");
  assert.deepEqual(t.changes, [1, 2]);
});

test("an id the directory does not have is not fetched again for 30 s", async () => {
  const t = makeBook([{ id: "a", name: "Ada" }]);
  t.book.name("ghost");
  await t.runDeferred();
  assert.equal(t.fetches.length, 1);
  t.tick(10_000);
  t.book.name("ghost");
  await t.runDeferred();
  assert.equal(t.fetches.length, 1);
  t.tick(20_000);
  t.book.name("ghost");
  await t.runDeferred();
  assert.equal(t.fetches.length, 2);
});

test("unknown ids seen during a fetch get one more fetch after it", async () => {
  const directory = [{ id: "a", name: "Ada" }];
  const t = makeBook(directory);
  t.book.name("b");
  const first = t.runDeferred();
  // While the first fetch is under way, two more people show up.
  directory.push({ id: "c", name: "Cy" }, { id: "d", name: "Di" });
  t.book.name("c");
  t.book.name("d");
  await first;
  await t.runDeferred();
  assert.equal(t.fetches.length, 2);
  assert.equal(t.book.name("c"), "Cy");
  assert.equal(t.book.name("d"), "Di");
});

test("a failed fetch keeps the names already known", async () => {
  let fail = false;
  const book = new UserBook({
    fetchUsers: async () => {
      if (fail) throw new Error("offline");
      return [{ id: "a", name: "Ada" }];
    },
    defer: (fn) => fn(),
  });
  await book.refresh();
  fail = true;
  await book.refresh();
  assert.equal(book.name("a"), "Ada");
});
