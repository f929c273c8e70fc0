// Unit tests of ui/connection-text.js: what the banner says for each state and refusal.
import { test } from "node:test";
import assert from "node:assert/strict";

import { connectionText, signedOutNotice } from "../ui/connection-text.js";

const NOW = 1_000_000;

test("a refused connection says why and when it retries", () => {
  const cases = {
    rate_limit_exceeded: /^Too many connection attempts from this network\. Trying again in 42 seconds/,
    too_many_connections: /^Too many Campfire tabs or devices are open for your account \(close one\)\. Trying again in 42 seconds/,
    server_overloaded: /^The server is busy\. Trying again in 42 seconds/,
  };
  for (const [code, expected] of Object.entries(cases)) {
    const out = connectionText("reconnecting", { refused: code, retry_at: NOW + 41_200 }, NOW);
    assert.match(out.text, expected, code);
    assert.equal(out.retry, true);
    assert.equal(out.ticking, true);
  }
});

test("a lost connection without a refusal says so, counting down", () => {
  assert.equal(
    connectionText("reconnecting", { reason: "transport close", retry_at: NOW + 1000 }, NOW).text,
    "Connection lost. Reconnecting in 1 second…",
  );
});

test("offline and polling keep the reason of the refusal", () => {
  assert.match(connectionText("offline", { refused: "rate_limit_exceeded" }, NOW).text, /^Too many connection attempts from this network\. Offline\./);
  assert.match(connectionText("offline", {}, NOW).text, /^Offline\. Messages you write are kept/);
  assert.match(
    connectionText("polling", { refused: "too_many_connections" }, NOW).text,
    /^Too many Campfire tabs .*: live connection unavailable: checking for new messages/,
  );
  assert.match(connectionText("polling", {}, NOW).text, /^Live connection unavailable/);
});

test("the other states", () => {
  assert.equal(connectionText("connected").text, "Up to date");
  assert.equal(connectionText("syncing").text, "Catching up…");
  assert.equal(connectionText("connecting", { attempt: 2 }).text, "Connecting… (attempt 3)");
  assert.equal(connectionText("connected").retry, false);
});

test("signed out: revoked elsewhere, or the session ended", () => {
  assert.match(signedOutNotice("session_revoked"), /signed out \(from another tab or device, or by an admin\)/);
  assert.match(signedOutNotice("auth_failed"), /session has ended/);
});
