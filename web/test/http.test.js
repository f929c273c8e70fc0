// Unit tests of client/http.js: JSON calls, error mapping, signIn.
import { test } from "node:test";
import assert from "node:assert/strict";

import { CampfireHttpError, signIn } from "../campfire-client.js";
import { fakeFetch, networkDown } from "./fakes.js";

test("signIn posts the credentials and returns the session", async () => {
  const fetch = fakeFetch((method, path, body) =>
    method === "POST" && path === "/api/session" ? { status: 201, body: { token: "t", user: { id: "u" }, echo: body } } : undefined,
  );
  const session = await signIn({ baseUrl: "http://campfire.test/", email_address: "a@b.c", password: "pw", fetch });
  assert.equal(session.token, "t");
  assert.deepEqual(session.echo, { email_address: "a@b.c", password: "pw" });
  assert.equal(fetch.calls[0].headers["Content-Type"], "application/json");
});

test("an HTTP refusal becomes a CampfireHttpError with status, code and retry_after", async () => {
  const fetch = fakeFetch(() => ({ status: 429, body: { error: "slow down", code: "rate_limit_exceeded" }, headers: { "Retry-After": "7" } }));
  const err = await signIn({ baseUrl: "http://campfire.test", fetch }).catch((e) => e);
  assert.ok(err instanceof CampfireHttpError);
  assert.equal(err.status, 429);
  assert.equal(err.code, "rate_limit_exceeded");
  assert.equal(err.message, "slow down");
  assert.equal(err.retryAfter, 7);
});

test("a network failure is status 0, code network_error", async () => {
  const err = await signIn({ baseUrl: "http://campfire.test", fetch: networkDown }).catch((e) => e);
  assert.equal(err.status, 0);
  assert.equal(err.code, "network_error");
});
