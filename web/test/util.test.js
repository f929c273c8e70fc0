// Unit tests of client/util.js: ids, storage, the emitter.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Emitter, MemoryStorage, uuid } from "../campfire-client.js";

test("uuid makes version 4 UUIDs", () => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid(), re);
  const saved = globalThis.crypto.randomUUID;
  try {
    globalThis.crypto.randomUUID = undefined; // an insecure context has no randomUUID
    assert.match(uuid(), re);
  } finally {
    globalThis.crypto.randomUUID = saved;
  }
});

test("a throwing listener does not stop the others; once() fires once; off() detaches", () => {
  const e = new Emitter();
  const seen = [];
  const origError = console.error;
  console.error = () => {};
  try {
    e.on("x", () => {
      throw new Error("boom");
    });
    e.on("x", (v) => seen.push(["on", v]));
    e.once("x", (v) => seen.push(["once", v]));
    const off = e.on("x", (v) => seen.push(["off", v]));
    off();
    e.emit("x", 1);
    e.emit("x", 2);
  } finally {
    console.error = origError;
  }
  assert.deepEqual(seen, [["on", 1], ["once", 1], ["on", 2]]);
});

test("MemoryStorage behaves like localStorage for strings", () => {
  const s = new MemoryStorage();
  assert.equal(s.getItem("k"), null);
  s.setItem("k", 5);
  assert.equal(s.getItem("k"), "5");
  s.removeItem("k");
  assert.equal(s.getItem("k"), null);
});
